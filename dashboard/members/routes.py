"""The members page: list (search, role filter, pages), inline role change, remove, leave."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from dashboard import tenancy
from dashboard.accounts.stepup import require_recent_auth
from dashboard.audit.web import request_actor
from dashboard.auth.principal import principal_only
from dashboard.members import ownership, service
from dashboard.members import roles as role_rules
from dashboard.members.forms import ConfirmForm, RoleChangeForm, TransferForm, role_choices
from dashboard.members.web import editor, is_htmx, problem, rows_html
from dashboard.metadata import service as metadata
from dashboard.permissions import Permission, requires
from dashboard.rendering import render_bytes

bp = Blueprint("members", __name__)

LIST_TARGET = "members-list"


def _wanted() -> service.PageWanted:
    """The page of members the URL asks for; ids as text, for the HTML table."""
    return service.PageWanted(
        query=request.args.get("q", ""),
        role=request.args.get("role", ""),
        page=request.args.get("page", 1, type=int),
        per_page=request.args.get("per_page", service.PER_PAGE_DEFAULT, type=int),
        after=request.args.get("after", ""),
        before=request.args.get("before", ""),
        text_ids=True,
    )


def _options(roles: dict) -> list:
    """The roles this editor may hand out: one list for every row's select."""
    return role_rules.grantable(editor(), roles)


@bp.route("/o/<slug>/members")
@principal_only  # the page's one statement is a transaction of its own too (below)
@requires(Permission.MEMBERS_VIEW)
def index():
    db = tenancy.request_session()
    # The org's roles and entitlements (the navigation's lock marks) and the page of members:
    # one statement, and a transaction of its own (no BEGIN, no COMMIT).
    roles, page = service.roles_and_members(db, editor=editor(), wanted=_wanted(), alone=True)
    template = "members/partials/list.html" if is_htmx(LIST_TARGET) else "members/index.html"
    # As bytes: the table (most of the page) is ASCII, and encoded on its own it is copied
    # as it is (dashboard/rendering.py).
    return render_bytes(template, page=page, rows_html=rows_html(page.rows, _options(roles)),
                        roles=roles)


@bp.route("/o/<slug>/members/<uuid:user_id>")
@requires(Permission.MEMBERS_VIEW)
def detail(user_id: uuid.UUID):
    """One member: role, dates and metadata (read-only; the API changes metadata)."""
    db = tenancy.request_session()
    row = service.get_member(db, org_id=g.membership.org_id, editor=editor(),
                             roles=role_rules.catalogue(db), user_id=user_id)
    if row is None:
        abort(404)
    values = metadata.read(db, metadata.MEMBER, g.membership.org_id, [user_id])
    return render_template("members/detail.html", row=row,
                           metadata=values.get(user_id, {}))


@bp.route("/o/<slug>/members/<uuid:user_id>/role", methods=["POST"])
@requires(Permission.ROLES_EDIT)
def change_role(user_id: uuid.UUID):
    db = tenancy.request_session()
    roles = role_rules.catalogue(db)
    form = RoleChangeForm()
    form.role.choices = role_choices(roles.values())
    error, status = None, 200
    if not form.validate_on_submit():
        error, status = "Choose one of the organization's roles.", 400
    else:
        if form.role.data == "owner":
            require_recent_auth()  # making someone an owner hands over the org: step-up
        try:
            service.change_role(
                db, org_id=g.membership.org_id, editor=editor(), roles=roles, user_id=user_id,
                new_role=form.role.data, actor=request_actor(),
            )
        except service.MemberError as exc:
            error, status = exc.message, exc.status
    if status == 404:
        abort(404)
    if is_htmx():
        row = service.get_member(db, org_id=g.membership.org_id, editor=editor(), roles=roles,
                                 user_id=user_id)
        if row is None:  # you demoted yourself out of sight, or the member is gone
            abort(404)
        return render_template(
            "members/partials/row.html",
            rows_html=rows_html([row], _options(roles), saved=error is None, error=error),
        ), status
    if error:
        return problem(error, status)
    flash("Role updated.", "success")
    return redirect(url_for("members.index"), 303)


@bp.route("/o/<slug>/members/<uuid:user_id>/remove", methods=["GET", "POST"])
@requires(Permission.MEMBERS_REMOVE)
def remove(user_id: uuid.UUID):
    db = tenancy.request_session()
    roles = role_rules.catalogue(db)
    row = service.get_member(db, org_id=g.membership.org_id, editor=editor(), roles=roles,
                             user_id=user_id)
    if row is None:
        abort(404)
    form = ConfirmForm()
    if request.method == "GET":
        if row.is_self:
            return redirect(url_for("members.leave"), 303)
        if not row.can_remove:  # no confirmation page for a removal that would be refused
            return problem(f"You cannot remove someone who is {row.role.name}.", 403)
        return render_template("members/remove.html", row=row, form=form)
    if not form.validate_on_submit():
        return problem("Your form expired. Reload the page and try again.", 400)
    try:
        service.remove_member(db, org_id=g.membership.org_id, editor=editor(), roles=roles,
                              user_id=user_id, actor=request_actor())
    except service.MemberError as exc:
        return problem(exc.message, exc.status)
    flash(f"{row.name} was removed from {g.membership.name}.", "success")
    return redirect(url_for("members.index"), 303)


def _leave_page(form: ConfirmForm, status: int = 200, error: str | None = None):
    """The leave page; a sole owner sees the ways out (transfer, or delete the org)."""
    db = tenancy.request_session()
    sole = g.membership.role == role_rules.OWNER and ownership.is_sole_owner(
        db, g.membership.org_id, g.principal.user_id)
    return render_template("members/leave.html", form=form, sole_owner=sole,
                           error=error), status


@bp.route("/o/<slug>/leave", methods=["GET", "POST"])
@requires(Permission.ORG_VIEW)
def leave():
    form = ConfirmForm()
    if request.method == "GET":
        return _leave_page(form)
    if not form.validate_on_submit():
        return problem("Your form expired. Reload the page and try again.", 400)
    db = tenancy.request_session()
    name = g.membership.name
    try:
        service.leave(db, org_id=g.membership.org_id, user_id=g.principal.user_id,
                      actor=request_actor())
    except service.MemberError as exc:
        db.rollback()
        if exc.status == 409:  # the last owner: offer the transfer or the deletion instead
            return _leave_page(ConfirmForm(formdata=None), 409, exc.message)
        return problem(exc.message, exc.status)
    flash(f"You left {name}.", "success")
    return redirect(url_for("auth.switcher"), 303)


def _transfer_form() -> TransferForm:
    db = tenancy.request_session()
    form = TransferForm()
    form.new_owner.choices = [
        (str(s.user_id), f"{s.name} ({s.email})")
        for s in ownership.successors(db, g.membership.org_id, g.principal.user_id)
    ]
    return form


@bp.route("/o/<slug>/ownership", methods=["GET", "POST"])
@requires(Permission.ORG_DELETE)  # owners only: the one permission admins lack
def transfer_ownership():
    """Hand the org to another member (step-up); the owner becomes admin or leaves."""
    if g.membership.role != role_rules.OWNER:
        return problem("Only an owner can transfer ownership.", 403)
    form = _transfer_form()
    if request.method == "GET":
        return render_template("members/transfer.html", form=form)
    if not form.validate_on_submit():
        return render_template("members/transfer.html", form=form), 400
    require_recent_auth()  # handing over the org: confirm it is really the owner
    db = tenancy.request_session()
    name = g.membership.name
    then_leave = form.then.data == "leave"
    try:
        ownership.transfer(
            db, org_id=g.membership.org_id, owner_id=g.principal.user_id,
            owner_role=g.membership.role, new_owner_id=uuid.UUID(form.new_owner.data),
            then_leave=then_leave, actor=request_actor(),
        )
    except service.MemberError as exc:
        db.rollback()
        form.new_owner.errors.append(exc.message)
        return render_template("members/transfer.html", form=form), exc.status
    new_owner = dict(form.new_owner.choices)[form.new_owner.data]
    if then_leave:
        flash(f"{new_owner} now owns {name}, and you left it.", "success")
        return redirect(url_for("auth.switcher"), 303)
    flash(f"{new_owner} now owns {name}. You are an admin.", "success")
    return redirect(url_for("members.index"), 303)
