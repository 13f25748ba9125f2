"""Staff console: an org's tier, limits and moves; request a move. HTTP only."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from dashboard import tenancy
from dashboard.permissions import staff_only
from dashboard.tiers import staff

bp = Blueprint("tiers", __name__, url_prefix="/admin")


class MoveForm(FlaskForm):
    to = SelectField("Move to", choices=[("schema", "A schema of its own"),
                                         ("dedicated", "A database of its own"),
                                         ("shared", "The shared tier")])
    target = StringField(
        "Dedicated database: the environment variable holding its URL",
        validators=[Optional(), Length(max=63)],
        description="For a database of its own only, e.g. TENANT_DB_ACME (never the URL itself:"
                    " no password is ever stored in a row).",
    )


def _session():
    return tenancy.bind_request(tenancy.TenantContext(user_id=g.principal.user_id))


def _page(org_id: uuid.UUID, form: MoveForm | None = None, status: int = 200):
    view = staff.view(_session(), org_id)
    if view is None:
        abort(404)
    return render_template("tiers/staff.html", org_id=org_id, view=view,
                           form=form or MoveForm()), status


@bp.route("/orgs/<uuid:org_id>/tier")
@staff_only
def org_tier(org_id: uuid.UUID):
    return _page(org_id)


@bp.route("/orgs/<uuid:org_id>/tier/move", methods=["POST"])
@staff_only
def request_move(org_id: uuid.UUID):
    form = MoveForm()
    if not form.validate_on_submit():
        return _page(org_id, form, 400)
    target = (form.target.data or "").strip() or None
    problem = staff.target_problem(form.to.data, target)
    if problem:
        form.target.errors = [problem]
        return _page(org_id, form, 400)
    try:
        staff.request_move(_session(), org_id, form.to.data, target)
    except staff.MoveRefused as exc:
        form.to.errors = [str(exc)]
        return _page(org_id, form, 409)
    flash("Move requested. It runs with `tenantdesk tenants run-requested`; its state shows"
          " below.", "success")
    return redirect(url_for("tiers.org_tier", org_id=org_id), 303)
