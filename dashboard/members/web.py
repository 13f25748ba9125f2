"""Request-side helpers shared by the member, invitation and role routes."""

from __future__ import annotations

from flask import current_app, g, render_template, request, url_for

from dashboard import mail
from dashboard.members.invitations import IssuedInvitation
from dashboard.members.roles import Editor


def editor() -> Editor:
    return Editor(
        user_id=g.principal.user_id,
        role=g.membership.role,
        permissions=frozenset(g.membership.permissions),
    )


def is_htmx(target: str | None = None) -> bool:
    if not request.headers.get("HX-Request"):
        return False
    return target is None or request.headers.get("HX-Target") == target


def problem(message: str, status: int):
    """A plain page saying why a request was refused (nothing was changed)."""
    return render_template("errors/error.html", status=status, message=message), status


def invitation_link(token: str) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return base + url_for("invitations.show", token=token)


def queue_invitation_mail(session, issued: list[IssuedInvitation], org_name: str,
                          inviter_name: str) -> None:
    """Compose the invitations' mail; it leaves when the request's transaction commits."""
    mails = []
    for invitation in issued:
        context = {
            "org_name": org_name,
            "inviter_name": inviter_name,
            "role_name": invitation.role.name,
            "message": invitation.message,
            "link": invitation_link(invitation.token),
            "expires_at": invitation.expires_at,
        }
        mails.append(mail.Mail(
            to=invitation.email,
            subject=f"{inviter_name} invited you to join {org_name} on Tenantdesk",
            text=render_template("members/mail/invitation.txt", **context),
            html=render_template("members/mail/invitation.html", **context),
        ))
    mail.send_after_commit(session, current_app.extensions["tenantdesk.mail"], mails)
