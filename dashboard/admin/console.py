"""Staff console: find orgs, suspend/reactivate, enter and leave support mode. HTTP only."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from dashboard import tenancy
from dashboard.admin import service
from dashboard.admin.console_forms import ExitSupportForm, ReasonForm, SupportForm
from dashboard.auth.principal import client_info, issue_token
from dashboard.licenses import upgrades
from dashboard.lifecycle import service as lifecycle
from dashboard.members.forms import ConfirmForm
from dashboard.metadata import service as metadata_service
from dashboard.permissions import authenticated, staff_only

bp = Blueprint("console", __name__, url_prefix="/admin")
exit_bp = Blueprint("support", __name__)


def _staff_session():
    """Staff pages act outside any org: only app.user_id is set."""
    return tenancy.bind_request(tenancy.TenantContext(user_id=g.principal.user_id))


@bp.route("/")
@staff_only
def index():
    query = (request.args.get("q") or "").strip()[:100]
    page = request.args.get("page", 1, type=int)
    db = _staff_session()
    found = service.org_page(db, query, page)
    if page > 1 and not found.orgs:  # a page past the end (the count comes with the rows)
        return redirect(url_for("console.index", q=query or None), 303)
    return render_template("admin/index.html", orgs=found.orgs, found=found, query=query,
                           requests=upgrades.open_requests(db))


@bp.route("/upgrade-requests/<uuid:org_id>/<uuid:upgrade_request_id>/handled",
          methods=["POST"])
@staff_only
def upgrade_request_handled(org_id: uuid.UUID, upgrade_request_id: uuid.UUID):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not upgrades.mark_handled(_staff_session(), org_id, upgrade_request_id):
        abort(404)
    flash("Upgrade request marked as handled.", "success")
    return redirect(url_for("console.index"), 303)


def _org_or_404(org_id: uuid.UUID) -> service.StaffOrg:
    org = service.get_org(_staff_session(), org_id)
    if org is None:
        abort(404)
    return org


@bp.route("/orgs/<uuid:org_id>")
@staff_only
def org(org_id: uuid.UUID):
    return _org_page(_org_or_404(org_id))


def _org_page(org, *, support_form=None, status_form=None, status=200):
    # The staff context is bound already (_org_or_404): no commit in between.
    metadata = metadata_service.staff_org_metadata(tenancy.request_session(), org.id)
    return render_template(
        "admin/org.html", org=org, support_form=support_form or SupportForm(prefix="support"),
        status_form=status_form or ReasonForm(prefix="status"), metadata=metadata,
    ), status


@bp.route("/orgs/<uuid:org_id>/status", methods=["POST"])
@staff_only
def change_status(org_id: uuid.UUID):
    org = _org_or_404(org_id)
    form = ReasonForm(prefix="status")
    action = request.form.get("action")
    if action not in ("suspend", "reactivate") or not form.validate_on_submit():
        return _org_page(org, status_form=form, status=400)
    try:
        lifecycle.change(tenancy.request_session(), org.id, action,
                         actor=f"staff:{g.principal.email}", reason=form.reason.data)
    except lifecycle.LifecycleRefused:
        abort(404)
    flash(f"{org.name} is now {'suspended' if action == 'suspend' else 'active'}.", "success")
    return redirect(url_for("console.org", org_id=org.id), 303)


@bp.route("/orgs/<uuid:org_id>/support", methods=["POST"])
@staff_only
def enter_support(org_id: uuid.UUID):
    org = _org_or_404(org_id)
    form = SupportForm(prefix="support")
    if not form.validate_on_submit():
        return _org_page(org, support_form=form, status=400)
    db = tenancy.request_session()
    try:
        grant = service.enter_support(db, org.id, form.reason.data,
                                      form.write_reason.data if form.writes else None)
    except service.StaffError as exc:
        getattr(form, exc.field).errors = [exc.message]
        return _org_page(org, support_form=form, status=400)
    new_session = service.open_support_session(
        db, g.principal.user_id, org.id, g.principal.session_id, client_info()
    )
    issue_token(new_session, g.principal.user_id, org.id, "support")
    from flask import session

    session["sg"] = str(grant.id)
    return redirect(url_for("orgs.home", slug=org.slug), 303)


# Outside /admin on purpose: leaving must work even if the staff flag was withdrawn meanwhile.
@exit_bp.route("/support/exit", methods=["POST"])
@authenticated
def exit_support():
    if not ExitSupportForm().validate_on_submit():
        abort(400)
    support = g.get("support")
    db = tenancy.request_session()
    if support is not None:
        service.exit_support(db, support.grant_id)
    new_session = service.open_support_session(
        db, g.principal.user_id, None, g.principal.session_id, client_info()
    )
    issue_token(new_session, g.principal.user_id, None, None)
    flash("You left support mode.", "info")
    return redirect(url_for("console.index") if g.principal.is_staff else url_for("auth.index"),
                    303)
