"""Staff: change an org's plan and feature overrides. HTTP only: rules in licenses/service.py.

Writes go through the audited SECURITY DEFINER staff functions; the org's own admins see the
result on their "Plan & features" page and in their audit log.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from dashboard import tenancy
from dashboard.admin.forms import (
    ChangePlanForm,
    ClearOverrideForm,
    OverrideForm,
    naive_utc,
    utc,
)
from dashboard.audit.web import request_actor
from dashboard.licenses import service
from dashboard.licenses.features import METRIC_LABELS, Metric
from dashboard.permissions import staff_only

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/orgs/<uuid:org_id>/plan")
@staff_only
def org_plan(org_id: uuid.UUID):
    return _page(org_id)


@bp.route("/orgs/<uuid:org_id>/plan", methods=["POST"])
@staff_only
def change_plan(org_id: uuid.UUID):
    form = _plan_form()
    if form.validate_on_submit():
        try:
            service.change_plan(
                tenancy.request_session(), org_id, plan=form.plan.data,
                seats=form.seats.data, rate_limit_per_minute=form.rate_limit_per_minute.data,
                valid_from=utc(form.valid_from.data), valid_until=utc(form.valid_until.data),
                reason=form.reason.data, actor=request_actor(),
            )
        except service.LicenseError as exc:
            getattr(form, exc.field).errors.append(exc.message)
        except (service.OrgNotFound, service.NotStaff):
            abort(404)
        else:
            flash(f"Plan changed to {form.plan.data}.", "success")
            return redirect(url_for("admin.org_plan", org_id=org_id), 303)
    return _page(org_id, plan_form=form, status=400)


@bp.route("/orgs/<uuid:org_id>/overrides", methods=["POST"])
@staff_only
def set_override(org_id: uuid.UUID):
    form = OverrideForm()
    if form.validate_on_submit():
        try:
            service.set_override(
                tenancy.request_session(), org_id, feature=form.feature.data,
                enabled=form.state.data == "on", expires_at=utc(form.expires_at.data),
                reason=form.reason.data, actor=request_actor(),
            )
        except service.LicenseError as exc:
            getattr(form, exc.field).errors.append(exc.message)
        except (service.OrgNotFound, service.NotStaff):
            abort(404)
        else:
            flash(f"{form.feature.data} is now {form.state.data} for this org.", "success")
            return redirect(url_for("admin.org_plan", org_id=org_id), 303)
    return _page(org_id, override_form=form, status=400)


@bp.route("/orgs/<uuid:org_id>/overrides/clear", methods=["POST"])
@staff_only
def clear_override(org_id: uuid.UUID):
    form = ClearOverrideForm()
    if form.validate_on_submit():
        try:
            cleared = service.clear_override(
                tenancy.request_session(), org_id, feature=form.feature.data,
                reason=form.reason.data, actor=request_actor(),
            )
        except service.LicenseError as exc:
            getattr(form, exc.field).errors.append(exc.message)
        except (service.OrgNotFound, service.NotStaff):
            abort(404)
        else:
            if cleared:
                flash(f"Override of {form.feature.data} cleared; the plan decides.", "success")
            else:
                flash(f"{form.feature.data} had no override.", "info")
            return redirect(url_for("admin.org_plan", org_id=org_id), 303)
    return _page(org_id, clear_form=form, status=400)


def _plan_form(**defaults) -> ChangePlanForm:
    form = ChangePlanForm(**defaults)
    form.plan.choices = [
        (p.key, p.name) for p in service.plans(tenancy.request_session()).values()
    ]
    return form


def _page(org_id, *, plan_form=None, override_form=None, clear_form=None, status=200):
    db = tenancy.request_session()
    try:
        view = service.staff_view(db, org_id)
    except service.NotStaff:
        abort(404)
    if view is None:
        abort(404)
    if plan_form is None:  # start from the current terms, so changing one keeps the others
        terms = view.license
        plan_form = _plan_form(
            plan=terms.plan, seats=terms.seats,
            rate_limit_per_minute=terms.rate_limit_per_minute,
            valid_from=naive_utc(terms.valid_from), valid_until=naive_utc(terms.valid_until),
        )
    return render_template(
        "admin/org_plan.html",
        view=view,
        entitlements=view.entitlements,
        plan_form=plan_form,
        override_form=override_form or OverrideForm(),
        clear_form=clear_form or ClearOverrideForm(),
        metrics=[(m.value, METRIC_LABELS[m]) for m in Metric],
        usage={m.value: (view.seats_used if m is Metric.SEATS else None) for m in Metric},
    ), status
