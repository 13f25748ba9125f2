"""Owner's lifecycle settings: deletion with grace, export download, staff access. HTTP only."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    url_for,
)
from sqlalchemy import select, update

from dashboard import navigation, tenancy
from dashboard.accounts.stepup import step_up
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.lifecycle import service
from dashboard.lifecycle.download import send_export
from dashboard.lifecycle.forms import CancelDeletionForm, ScheduleDeletionForm, StaffAccessForm
from dashboard.models import Organization
from dashboard.permissions import Permission, requires

bp = Blueprint("lifecycle", __name__)
navigation.register("Organization settings", "lifecycle.settings", Permission.ORG_DELETE, 90)


def _org(session) -> Organization:
    org = session.scalar(select(Organization))
    if org is None:
        abort(404)
    return org


@bp.route("/o/<slug>/settings")
@requires(Permission.ORG_DELETE)
def settings():
    org = _org(tenancy.request_session())
    return render_template(
        "lifecycle/settings.html",
        org=org,
        schedule_form=ScheduleDeletionForm(),
        cancel_form=CancelDeletionForm(),
        staff_form=StaffAccessForm(allowed=org.staff_access_allowed),
    )


@bp.route("/o/<slug>/settings/deletion", methods=["POST"])
@requires(Permission.ORG_DELETE)
@step_up
def schedule_deletion():
    session = tenancy.request_session()
    org = _org(session)
    form = ScheduleDeletionForm()
    if not form.validate_on_submit() or form.confirm_slug.data.strip() != org.slug:
        form.confirm_slug.errors = [f"Type {org.slug} exactly to confirm."]
        return render_template(
            "lifecycle/settings.html", org=org, schedule_form=form,
            cancel_form=CancelDeletionForm(),
            staff_form=StaffAccessForm(allowed=org.staff_access_allowed),
        ), 400
    grace = current_app.config.get("DELETION_GRACE_DAYS", 30)
    service.change(session, org.id, "schedule_deletion", actor=g.principal.email,
                   reason="requested by owner", grace_days=grace)
    flash(f"{org.name} will be deleted in {grace} days. You can cancel until then.", "success")
    return redirect(url_for("lifecycle.settings"), 303)


@bp.route("/o/<slug>/settings/deletion/cancel", methods=["POST"])
@requires(Permission.ORG_DELETE)
def cancel_deletion():
    session = tenancy.request_session()
    org = _org(session)
    if not CancelDeletionForm().validate_on_submit():
        abort(400)
    service.change(session, org.id, "cancel_deletion", actor=g.principal.email,
                   reason="cancelled by owner")
    flash("Deletion cancelled.", "success")
    return redirect(url_for("lifecycle.settings"), 303)


@bp.route("/o/<slug>/settings/staff-access", methods=["POST"])
@requires(Permission.ORG_DELETE)
def staff_access():
    session = tenancy.request_session()
    org = _org(session)
    form = StaffAccessForm()
    if not form.validate_on_submit():
        abort(400)
    before = org.staff_access_allowed
    session.execute(update(Organization).values(staff_access_allowed=form.allowed.data))
    record_audit(session, org_id=org.id, actor=request_actor(), action="org.staff_access",
                 target=f"org:{org.slug}", before={"allowed": before},
                 after={"allowed": form.allowed.data})
    flash("Staff access " + ("allowed." if form.allowed.data else "turned off."), "success")
    return redirect(url_for("lifecycle.settings"), 303)


@bp.route("/o/<slug>/export.zip")
@requires(Permission.ORG_DELETE)
def download_export():
    session = tenancy.request_session()
    org = _org(session)
    return send_export(session, org.id, org.slug, request_actor())
