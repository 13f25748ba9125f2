"""The "Plan & features" page of an org. HTTP only: rules live in service.py."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for

from dashboard import mail, navigation, tenancy
from dashboard.audit.web import request_actor
from dashboard.licenses import service, upgrades
from dashboard.licenses.features import METRIC_LABELS, Feature, Metric
from dashboard.licenses.forms import UpgradeRequestForm
from dashboard.licenses.web import requires_feature
from dashboard.permissions import Permission, requires

bp = Blueprint("licenses", __name__)

navigation.register("Plan & features", "licenses.plan", Permission.BILLING_VIEW, order=80)


@bp.route("/o/<slug>/plan")
@requires(Permission.BILLING_VIEW)
def plan():
    db = tenancy.request_session()
    usage = service.current_usage(db)
    return render_template(
        "licenses/plan.html",
        entitlements=service.entitlements(db),
        usage=usage,
        metrics=[(m.value, METRIC_LABELS[m]) for m in Metric],
        seats_used=usage[Metric.SEATS],
    )


@bp.route("/o/<slug>/plan/entitlements.json")
@requires(Permission.BILLING_VIEW)
@requires_feature(Feature.API_ACCESS)
def entitlements_json():
    """The plan page as data, for integrations (an API-access feature)."""
    db = tenancy.request_session()
    e = service.entitlements(db)
    return {
        "plan": e.plan,
        "effective_plan": e.effective_plan,
        "license": {
            "state": e.license_state,
            "valid_from": e.valid_from.isoformat() if e.valid_from else None,
            "valid_until": e.valid_until.isoformat() if e.valid_until else None,
        },
        "features": {
            key: {"enabled": f.enabled, "source": f.source,
                  "until": f.until.isoformat() if f.until else None}
            for key, f in e.features.items()
        },
        "seats": {"used": service.seats_used(db), "limit": e.seat_limit},
        "rate_limit_per_minute": e.rate_limit_per_minute,
        "quotas": {
            metric: {"limit": q.limit, "hard": q.hard, "period": q.period}
            for metric, q in e.quotas.items()
        },
    }


@bp.route("/o/<slug>/plan/upgrade-request", methods=["POST"])
@requires(Permission.ORG_VIEW)  # whoever met the "not included" page may ask
def request_upgrade():
    """Ask for a feature: the org's owners get a mail, staff see it in the console."""
    form = UpgradeRequestForm()
    db = tenancy.request_session()
    if not form.validate_on_submit():
        return render_template("errors/error.html", status=400,
                               message="Your form expired or was incomplete. Try again."), 400
    try:
        asked = upgrades.request_upgrade(db, feature=form.feature.data,
                                         user_id=g.principal.user_id, note=form.note.data,
                                         actor=request_actor())
    except upgrades.UpgradeRequestError as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    if asked.created:
        _mail_owners(db, asked, form.note.data)
        flash(f"Upgrade requested: we told {_names(asked.owners)} and Tenantdesk about "
              f"{asked.feature_name}.", "success")
    else:
        flash(f"{asked.feature_name} was already requested; {_names(asked.owners)} and "
              "Tenantdesk have been told.", "info")
    landing = "licenses.plan" if "billing.view" in g.membership.permissions else "orgs.home"
    return redirect(url_for(landing, slug=g.membership.slug), 303)


def _names(owners) -> str:
    return ", ".join(o.name for o in owners) or "the owners"


def _mail_owners(db, asked: upgrades.Requested, note: str | None) -> None:
    plan_url = current_app.config["BASE_URL"].rstrip("/") + url_for("licenses.plan")
    context = {"who": g.principal.name, "email": g.principal.email,
               "org": g.membership.name, "feature": asked.feature_name,
               "note": (note or "").strip(), "plan_url": plan_url}
    mails = [mail.Mail(
        to=owner.email,
        subject=f"{g.principal.name} asks for {asked.feature_name} in {g.membership.name}",
        text=render_template("licenses/mail/upgrade_request.txt", owner=owner, **context),
    ) for owner in asked.owners]
    mail.send_after_commit(db, current_app.extensions["tenantdesk.mail"], mails)
