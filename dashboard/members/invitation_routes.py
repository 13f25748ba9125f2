"""Invitations: the org's side (send, resend, revoke) and the invitee's side (/invitations/<token>).

The invitee's pages are public (a new person has no account yet). Accepting binds the request
to (the accepting user, the invitation's org) and lets ``app_accept_invitation`` insert the
membership, so the join, the invitation update and the audit row share one transaction.
"""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from dashboard import tenancy
from dashboard.audit.service import Actor
from dashboard.audit.web import request_actor
from dashboard.auth import service as auth_service
from dashboard.auth.passwords import password_problem
from dashboard.auth.principal import client_info, issue_token
from dashboard.members import invitations as service
from dashboard.members import roles as role_rules
from dashboard.members.forms import AcceptNewAccountForm, ConfirmForm, InviteForm, role_choices
from dashboard.members.seats import seat_limit, seats_in_use
from dashboard.members.web import editor, problem, queue_invitation_mail
from dashboard.models import User
from dashboard.permissions import Permission, public, requires

bp = Blueprint("invitations", __name__)

# Outcome of a token -> (HTTP status, headline). Each gets its own clear page.
PROBLEMS = {
    "not_found": (404, "This invitation link is not valid"),
    "expired": (410, "This invitation has expired"),
    "revoked": (410, "This invitation was withdrawn"),
    "used": (410, "This invitation has already been used"),
    "wrong_email": (403, "This invitation is for someone else"),
    "already_member": (409, "You are already a member"),
    "role_gone": (409, "This invitation's role no longer exists"),
    "no_user": (400, "Sign in to accept this invitation"),
}


# ------------------------------------------------------------------------ the org's side


def _render_index(form: InviteForm, roles: dict, status: int = 200):
    db = tenancy.request_session()
    org_id = g.membership.org_id
    pending = service.pending_invitations(db, editor=editor(), roles=roles)
    return render_template(
        "members/invitations.html",
        form=form,
        pending=pending,
        action_form=ConfirmForm(formdata=None),
        seats={"limit": seat_limit(db, org_id), "used": seats_in_use(db, org_id)},
    ), status


def _invite_form(roles: dict) -> InviteForm:
    form = InviteForm()
    form.role.choices = role_choices(role_rules.grantable(editor(), roles))
    if request.method == "POST":  # validate against every role; the service checks grants
        form.role.choices = role_choices(roles.values())
    elif not form.role.data:
        form.role.data = "member"
    return form


@bp.route("/o/<slug>/invitations")
@requires(Permission.MEMBERS_INVITE)
def index():
    roles = role_rules.catalogue(tenancy.request_session())
    return _render_index(_invite_form(roles), roles)


@bp.route("/o/<slug>/invitations", methods=["POST"])
@requires(Permission.MEMBERS_INVITE)
def create():
    db = tenancy.request_session()
    roles = role_rules.catalogue(db)
    form = _invite_form(roles)
    if not form.validate_on_submit():
        form.role.choices = role_choices(role_rules.grantable(editor(), roles))
        return _render_index(form, roles, 400)
    try:
        result = service.invite(
            db, org_id=g.membership.org_id, editor=editor(), roles=roles,
            emails=form.emails.data, role=form.role.data, message=form.message.data,
            ttl_days=current_app.config["INVITATION_TTL_DAYS"],
            seat_limit=seat_limit(db, g.membership.org_id), actor=request_actor(),
            skip_invalid=True,
        )
    except service.InvitationError as exc:
        db.rollback()  # nothing of a refused submission stays, not even the seat lock
        getattr(form, exc.field or "emails").errors.append(exc.message)
        form.role.choices = role_choices(role_rules.grantable(editor(), roles))
        return _render_index(form, roles, exc.status)
    queue_invitation_mail(db, result.issued, g.membership.name, g.principal.name)
    sent = [i.email for i in result.issued if not i.refreshed]
    refreshed = [i.email for i in result.issued if i.refreshed]
    if sent:
        flash(f"Invitation sent to {', '.join(sent)}.", "success")
    if refreshed:
        flash(f"Pending invitation refreshed and sent again to {', '.join(refreshed)}.",
              "success")
    if result.already_members:
        flash(f"Already a member: {', '.join(result.already_members)}.", "info")
    if result.invalid:
        # Sent the rest; the form comes back with only the bad ones to correct.
        form = _invite_form(roles)
        form.role.choices = role_choices(role_rules.grantable(editor(), roles))
        form.emails.data = "\n".join(result.invalid)
        form.emails.errors = [
            f"Not sent — not valid email addresses: {service.shown_list(list(result.invalid))}."
            " Correct them and send again."]
        return _render_index(form, roles, 200)
    return redirect(url_for("invitations.index"), 303)


def _act(action):
    form = ConfirmForm()
    if not form.validate_on_submit():
        return problem("Your form expired. Reload the page and try again.", 400)
    try:
        return action()
    except service.InvitationError as exc:
        return problem(exc.message, exc.status)


@bp.route("/o/<slug>/invitations/<uuid:invitation_id>/resend", methods=["POST"])
@requires(Permission.MEMBERS_INVITE)
def resend(invitation_id: uuid.UUID):
    db = tenancy.request_session()
    roles = role_rules.catalogue(db)

    def action():
        issued = service.resend(
            db, org_id=g.membership.org_id, editor=editor(), roles=roles,
            invitation_id=invitation_id, ttl_days=current_app.config["INVITATION_TTL_DAYS"],
            seat_limit=seat_limit(db, g.membership.org_id), actor=request_actor(),
        )
        queue_invitation_mail(db, [issued], g.membership.name, g.principal.name)
        flash(f"Invitation sent again to {issued.email}.", "success")
        return redirect(url_for("invitations.index"), 303)

    return _act(action)


@bp.route("/o/<slug>/invitations/<uuid:invitation_id>/revoke", methods=["POST"])
@requires(Permission.MEMBERS_INVITE)
def revoke(invitation_id: uuid.UUID):
    db = tenancy.request_session()
    roles = role_rules.catalogue(db)

    def action():
        email = service.revoke(db, org_id=g.membership.org_id, editor=editor(), roles=roles,
                               invitation_id=invitation_id, actor=request_actor())
        flash(f"Invitation for {email} revoked; its link no longer works.", "success")
        return redirect(url_for("invitations.index"), 303)

    return _act(action)


# ------------------------------------------------------------------------ the invitee's side


def _problem_page(outcome: str, view=None, **extra):
    status, headline = PROBLEMS[outcome]
    return render_template(
        "members/invitation_problem.html", outcome=outcome, headline=headline, view=view,
        **extra,
    ), status


def _page(token: str, form: AcceptNewAccountForm | None = None, status: int = 200,
          error: str | None = None):
    db = tenancy.request_session()
    view = service.lookup(db, token)
    if view is None:
        return _problem_page("not_found")
    if view.state != "pending":
        return _problem_page(view.state, view)
    principal = g.get("principal")
    if principal is not None:
        if principal.email.lower() != view.email.lower():
            return _problem_page("wrong_email", view, signed_in_as=principal.email)
        if any(o.org_id == view.org_id for o in auth_service.user_orgs(db)):
            return _problem_page("already_member", view)
        return render_template("members/accept.html", view=view, mode="confirm",
                               form=ConfirmForm(formdata=None), error=error), status
    if service.account_exists(db, view.email):
        return render_template("members/accept.html", view=view, mode="sign_in",
                               login_url=url_for("auth.login", next=request.path)), status
    return render_template("members/accept.html", view=view, mode="new",
                           form=form or AcceptNewAccountForm(formdata=None), error=error), status


@bp.route("/invitations/<token>")
@public
def show(token: str):
    return _page(token)


@bp.route("/invitations/<token>", methods=["POST"])
@public
def accept(token: str):
    db = tenancy.request_session()
    view = service.lookup(db, token)
    if view is None:
        return _problem_page("not_found")
    if view.state != "pending":
        return _problem_page(view.state, view)
    principal = g.get("principal")
    if principal is not None:
        if not ConfirmForm().validate_on_submit():
            return problem("Your form expired. Reload the page and try again.", 400)
        return _join(token, view, principal.user_id, principal.email, principal.name,
                     old_session=principal.session_id)
    if service.account_exists(db, view.email):
        return _page(token, status=409)  # has an account: the page says "sign in to accept"
    form = AcceptNewAccountForm()
    if not form.validate_on_submit():
        return _page(token, form=form, status=400)
    weak = password_problem(form.password.data)
    if weak:
        form.password.errors.append(weak)
        return _page(token, form=form, status=400)
    user_id = uuid.uuid4()
    # Bind first (a new id, so nothing commits early), then create the account and join in
    # the same transaction: a refused join leaves no orphan account behind.
    db = tenancy.bind_request(tenancy.TenantContext(user_id=user_id, org_id=view.org_id))
    try:
        service.create_account(
            db, user_id=user_id, email=view.email, name=form.name.data,
            password_hash=current_app.extensions["tenantdesk.passwords"].hash(
                form.password.data),
        )
    except service.InvitationError as exc:
        tenancy.bind_request(tenancy.NOBODY)
        getattr(form, exc.field or "name").errors.append(exc.message)
        return _page(token, form=form, status=exc.status)
    return _join(token, view, user_id, view.email, form.name.data.strip(), old_session=None)


def _join(token, view, user_id, email, name, *, old_session):
    db = tenancy.bind_request(tenancy.TenantContext(user_id=user_id, org_id=view.org_id))
    base = request_actor()
    actor = Actor(label=email, user_id=user_id, ip=base.ip, user_agent=base.user_agent)
    try:
        joined = service.accept(db, token=token, view=view, user_email=email, actor=actor)
    except service.AcceptRefused as exc:
        extra = {"signed_in_as": email} if exc.outcome == "wrong_email" else {}
        return _problem_page(exc.outcome, view, **extra)
    # Sign in to the org just joined: a fresh session row (the old one, if any, is revoked).
    user = db.get(User, user_id)
    choice = auth_service.OrgChoice(joined.org_id, joined.slug, view.org_name, "active",
                                    joined.role)
    auth = (auth_service.session_auth(db, old_session) if old_session is not None
            else auth_service.PASSWORD)
    try:
        record = auth_service.open_session(db, user, choice, client_info(), auth)
    except auth_service.EntryRefused as exc:
        # The org signs in through its identity provider only. The join stands (committed
        # with this 200); the session for the org comes from single sign-on, not from here.
        policy = exc.policy
        return render_template(
            "members/joined_sso.html", org_name=view.org_name, slug=joined.slug,
            connection_id=policy.connection_id if policy else None,
        )
    if old_session is not None:
        auth_service.revoke_session(db, old_session, "joined org")
    # A brand-new sign-in gets a fresh CSRF secret; an existing session keeps its own.
    issue_token(record.id, user_id, joined.org_id, joined.role,
                keep_csrf=old_session is not None)
    flash(f"Welcome to {view.org_name}, {name}.", "success")
    return redirect(url_for("orgs.home", slug=joined.slug), 303)

