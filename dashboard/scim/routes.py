"""The org's SCIM page: base URL, tokens, group -> role mappings, last sync, request log.
HTTP only (rules in console.py). Owners and admins (``scim.manage``), plan feature ``scim``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from dashboard import navigation, tenancy
from dashboard.accounts.stepup import step_up
from dashboard.apikeys.web import hmac_key
from dashboard.audit.web import request_actor
from dashboard.licenses.features import Feature
from dashboard.licenses.web import requires_feature
from dashboard.members import roles as role_rules
from dashboard.permissions import Permission, requires
from dashboard.scim import console, service
from dashboard.scim.api import PREFIX
from dashboard.scim.forms import CreateTokenForm, CsrfForm, GroupRoleForm, RotateTokenForm

bp = Blueprint("scim", __name__)
navigation.register("SCIM", "scim.index", Permission.SCIM_MANAGE, order=92, feature=Feature.SCIM)


def _editor() -> role_rules.Editor:
    membership = g.membership
    return role_rules.Editor(g.principal.user_id, membership.role, membership.permissions)


def _page(form=None, created: console.CreatedToken | None = None, status: int = 200,
          error: str | None = None):
    session = tenancy.request_session()
    catalogue = role_rules.catalogue(session)
    grantable = [r for r in role_rules.grantable(_editor(), catalogue) if r.key != "owner"]
    return render_template(
        "scim/index.html",
        form=form or CreateTokenForm(formdata=None),
        rotate_form=RotateTokenForm(formdata=None),
        csrf_form=CsrfForm(),
        created=created,
        error=error,
        overview=console.overview(session),
        roles=catalogue,
        grantable=grantable,
        default_role=service.default_role(session),
        base_url=request.host_url.rstrip("/") + PREFIX,
        now=datetime.now(UTC),
    ), status


def _refused(exc: console.ConsoleError):
    if exc.status == 404:
        abort(404)
    return _page(status=exc.status, error=exc.message)


@bp.route("/o/<slug>/scim")
@requires(Permission.SCIM_MANAGE)
@requires_feature(Feature.SCIM)
def index():
    return _page()


@bp.route("/o/<slug>/scim/tokens", methods=["POST"])
@requires(Permission.SCIM_MANAGE)
@requires_feature(Feature.SCIM)
@step_up
def create_token():
    form = CreateTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    # TODO(accounts): put the step-up decorator here once it is on main.
    try:
        created = console.create_token(
            tenancy.request_session(), org_id=g.membership.org_id, name=form.name.data,
            created_by=g.principal.user_id, hmac_key=hmac_key(), actor=request_actor(),
        )
    except console.ConsoleError as exc:
        form.name.errors.append(exc.message)
        return _page(form, status=exc.status)
    # Rendered, not redirected: the secret must not travel through the session or a URL.
    return _page(created=created, status=201)


@bp.route("/o/<slug>/scim/tokens/<token_id>/rotate", methods=["POST"])
@requires(Permission.SCIM_MANAGE)
@requires_feature(Feature.SCIM)
@step_up
def rotate_token(token_id: str):
    form = RotateTokenForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        created = console.rotate_token(
            tenancy.request_session(), token_id, overlap=form.overlap.data,
            created_by=g.principal.user_id, hmac_key=hmac_key(), actor=request_actor(),
        )
    except console.ConsoleError as exc:
        return _refused(exc)
    return _page(created=created, status=201)


@bp.route("/o/<slug>/scim/tokens/<token_id>/revoke", methods=["POST"])
@requires(Permission.SCIM_MANAGE)
@requires_feature(Feature.SCIM)
@step_up
def revoke_token(token_id: str):
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        token = console.revoke_token(tenancy.request_session(), token_id, actor=request_actor())
    except console.ConsoleError as exc:
        return _refused(exc)
    flash(f"Revoked the SCIM token “{token.name}”. It stops working on its next request.",
          "success")
    return redirect(url_for("scim.index"), 303)


@bp.route("/o/<slug>/scim/groups/<scim_group_id>/role", methods=["POST"])
@requires(Permission.SCIM_MANAGE)
@requires_feature(Feature.SCIM)
@step_up
def map_group(scim_group_id: str):
    form = GroupRoleForm()
    if not form.validate_on_submit():
        abort(400)
    actor = request_actor()
    caller = service.Caller(org_id=g.membership.org_id, credential_id=None, label=actor.label,
                            created_by=g.principal.user_id, ip=actor.ip,
                            user_agent=actor.user_agent)
    try:
        group = console.set_group_role(
            tenancy.request_session(), group_id=scim_group_id, role=form.role.data or "",
            editor=_editor(), caller=caller, actor=actor,
        )
    except console.ConsoleError as exc:
        return _refused(exc)
    catalogue = role_rules.catalogue(tenancy.request_session())
    mapped = role_rules.role_of(catalogue, group.role).name if group.role else "no role"
    flash(f"“{group.display_name}” now maps to {mapped}.", "success")
    return redirect(url_for("scim.index"), 303)
