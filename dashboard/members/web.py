"""Request-side helpers shared by the member, invitation and role routes."""

from __future__ import annotations

from flask import current_app, g, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from dashboard import mail
from dashboard.hosts import mail as hosts_mail
from dashboard.hosts.mail import MailBrand
from dashboard.members import table
from dashboard.members.invitations import IssuedInvitation
from dashboard.members.roles import Editor, RoleInfo
from dashboard.members.service import MemberRow


def editor() -> Editor:
    return Editor(
        user_id=g.principal.user_id,
        role=g.membership.role,
        permissions=frozenset(g.membership.permissions),
    )


def rows_html(rows: list[MemberRow], options: list[RoleInfo], *, saved: bool = False,
              error: str | None = None) -> Markup:
    """The members table's rows for this request's viewer (their time zone, CSRF token)."""
    principal = g.get("principal")
    return table.rows_html(
        rows, options=options, member_base=url_for("members.index"),
        leave_url=url_for("members.leave"), csrf=generate_csrf(),
        zone=principal.time_zone if principal else None, saved=saved, error=error)


def is_htmx(target: str | None = None) -> bool:
    if not request.headers.get("HX-Request"):
        return False
    return target is None or request.headers.get("HX-Target") == target


def problem(message: str, status: int):
    """A plain page saying why a request was refused (nothing was changed)."""
    return render_template("errors/error.html", status=status, message=message), status


def invitation_link(token: str, brand: MailBrand | None = None) -> str:
    base = brand.base_url if brand else current_app.config["BASE_URL"].rstrip("/")
    return base + url_for("invitations.show", token=token)


def queue_invitation_mail(session, issued: list[IssuedInvitation], org_name: str,
                          inviter_name: str) -> None:
    """Compose the invitations' mail; it leaves when the request's transaction commits.
    Links and looks are the org's own (dashboard/hosts/mail.py)."""
    brand = hosts_mail.for_org(session) if issued else None
    mails = []
    for invitation in issued:
        context = {
            "org_name": brand.brand.org_name or org_name,
            "inviter_name": inviter_name,
            "role_name": invitation.role.name,
            "message": invitation.message,
            "link": invitation_link(invitation.token, brand),
            "expires_at": invitation.expires_at,
            "on_product": brand.on_product,
            "signature": brand.signature,
            "brand": brand.brand,
            "logo_url": brand.logo_url,
        }
        mails.append(mail.Mail(
            to=invitation.email,
            subject=f"{inviter_name} invited you to join {context['org_name']}"
                    f"{brand.on_product}",
            text=render_template("members/mail/invitation.txt", **context),
            html=render_template("members/mail/invitation.html", **context),
        ))
    mail.send_after_commit(session, current_app.extensions["tenantdesk.mail"], mails)
