"""The roles page: built-in roles for reference, custom roles with a permission checklist."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from dashboard import tenancy, vocabulary
from dashboard.audit.web import request_actor
from dashboard.licenses.features import Feature
from dashboard.licenses.web import requires_feature
from dashboard.members import roles as service
from dashboard.members.forms import ConfirmForm, CustomRoleForm
from dashboard.members.web import editor, problem
from dashboard.permissions import ALL_PERMISSIONS, Permission, requires

bp = Blueprint("roles", __name__)

PERMISSION_CHOICES = [(p.value, vocabulary.permission_label(p))
                      for p in sorted(ALL_PERMISSIONS, key=lambda p: p.value)]


def _form(**data) -> CustomRoleForm:
    form = CustomRoleForm(**data)
    form.permissions.choices = PERMISSION_CHOICES
    return form


def _checklist(form: CustomRoleForm) -> list[dict]:
    chosen = set(form.permissions.data or ())
    mine = editor().permissions
    return [
        {"value": value, "help": help_text, "checked": value in chosen,
         "allowed": value in mine}
        for value, help_text in PERMISSION_CHOICES
    ]


def _render_index(form: CustomRoleForm, status: int = 200):
    roles = service.catalogue(tenancy.request_session())
    me = editor()
    return render_template(
        "members/roles.html", roles=roles.values(), form=form, checklist=_checklist(form),
        editable={r.key for r in roles.values()
                  if not r.builtin and r.permissions <= me.permissions},
        all_permissions=PERMISSION_CHOICES,
    ), status




@bp.route("/o/<slug>/roles")
@requires(Permission.ROLES_EDIT)
def index():
    """Built-in roles for reference (any plan), custom roles where the plan has them."""
    return _render_index(_form())


@bp.route("/o/<slug>/roles", methods=["POST"])
@requires(Permission.ROLES_EDIT)
@requires_feature(Feature.CUSTOM_ROLES)
def create():
    form = _form()
    if not form.validate_on_submit():
        return _render_index(form, 400)
    try:
        role = service.create_role(
            tenancy.request_session(), org_id=g.membership.org_id, editor=editor(),
            name=form.name.data, permissions=form.permissions.data, actor=request_actor(),
        )
    except service.RoleError as exc:
        tenancy.request_session().rollback()
        getattr(form, exc.field or "name").errors.append(exc.message)
        return _render_index(form, exc.status)
    flash(f"Role {role.name} created.", "success")
    return redirect(url_for("roles.index"), 303)


@bp.route("/o/<slug>/roles/<role_key>", methods=["GET", "POST"])
@requires(Permission.ROLES_EDIT)
@requires_feature(Feature.CUSTOM_ROLES)
def edit(role_key: str):
    db = tenancy.request_session()
    role = service.custom_role(db, role_key)
    if role is None:
        abort(404)  # built-in, missing, or another org's (RLS): the same answer
    if request.method == "GET":
        form = _form(name=role.name, permissions=sorted(role.permissions))
        return _render_edit(role, form)
    form = _form()
    if not form.validate_on_submit():
        return _render_edit(role, form, 400)
    try:
        updated = service.update_role(db, editor=editor(), key=role_key, name=form.name.data,
                                      permissions=form.permissions.data, actor=request_actor())
    except service.RoleError as exc:
        if exc.status == 404:
            abort(404)
        db.rollback()
        getattr(form, exc.field or "name").errors.append(exc.message)
        return _render_edit(role, form, exc.status)
    flash(f"Role {updated.name} saved. Members holding it get the change on their next "
          "request.", "success")
    return redirect(url_for("roles.index"), 303)


def _render_edit(role, form, status: int = 200):
    return render_template(
        "members/role_edit.html", role=role, form=form, checklist=_checklist(form),
        delete_form=ConfirmForm(formdata=None),
        may_edit=role.permissions <= editor().permissions,
    ), status


# Deleting stays open without the feature: an org that left a plan with custom roles may
# still tidy them up (the roles already held keep working; nobody loses access on a downgrade).
@bp.route("/o/<slug>/roles/<role_key>/delete", methods=["POST"])
@requires(Permission.ROLES_EDIT)
def delete(role_key: str):
    if not ConfirmForm().validate_on_submit():
        return problem("Your form expired. Reload the page and try again.", 400)
    try:
        service.delete_role(tenancy.request_session(), editor=editor(), key=role_key,
                            actor=request_actor())
    except service.RoleError as exc:
        if exc.status == 404:
            abort(404)
        return problem(exc.message, exc.status)
    flash("Role deleted.", "success")
    return redirect(url_for("roles.index"), 303)
