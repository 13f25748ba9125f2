"""The account mails (links and security notices) and the audit trail of account events.

Security changes (password, email, second factors) are written to the audit log of each org
the person belongs to (who, when, from where) and mailed to the person.
"""

from __future__ import annotations

import uuid

from flask import current_app, request

from dashboard import tenancy
from dashboard.audit.service import Actor, record_audit
from dashboard.auth import service as auth_service
from dashboard.mail import Mail, send_after_commit

SIGNATURE = "\n\n-- \nTenantdesk"


def absolute(path: str) -> str:
    """A link back to the host the person is using (an org's own host, else BASE_URL)."""
    from dashboard.hosts import mail as hosts_mail

    return hosts_mail.for_request().link(path)


def mail(to: str, subject: str, body: str, signature: str = SIGNATURE) -> Mail:
    return Mail(to=to, subject=subject, text=body + signature)


def send_now(mails: list[Mail]) -> None:
    """Mail outside a database transaction (background jobs, after their commit)."""
    current_app.extensions["tenantdesk.mail"].send(mails)


def send_with(session, mails: list[Mail]) -> None:
    """Mail once ``session`` commits (nothing if the change rolls back)."""
    send_after_commit(session, current_app.extensions["tenantdesk.mail"], mails)


def where_from() -> str:
    agent = request.headers.get("User-Agent", "")[:120] or "an unknown browser"
    return f"from {request.remote_addr or 'an unknown address'} ({agent})"


def security_notice(email: str, what: str) -> Mail:
    return mail(
        email, f"Tenantdesk: {what}",
        f"{what} on your Tenantdesk account {where_from()}.\n\n"
        "If that was you, there is nothing to do. If not, reset your password at once:\n"
        f"{absolute('/forgot-password')}",
    )


def actor_for(user_id: uuid.UUID, email: str) -> Actor:
    return Actor(label=email, user_id=user_id, ip=request.remote_addr,
                 user_agent=request.headers.get("User-Agent", ""))


def audit_everywhere(user_id: uuid.UUID, email: str, action: str,
                     details: dict | None = None) -> int:
    """Write ``action`` to the audit log of every active org of the person; returns how many.

    Each org in its own transaction under that org's RLS context (the gate only opens one
    org at a time). Call it once the change itself is committed."""
    factory = current_app.extensions["tenantdesk.db"].sessionmaker
    with tenancy.scoped_session(factory, tenancy.TenantContext(user_id=user_id)) as db:
        orgs = [o for o in auth_service.user_orgs(db) if o.status == "active"]
    actor = actor_for(user_id, email)
    for org in orgs:
        context = tenancy.TenantContext(user_id=user_id, org_id=org.org_id)
        with tenancy.scoped_session(factory, context) as db:
            record_audit(db, org_id=org.org_id, actor=actor, action=action,
                         target=f"user:{email}", details=details or {})
    return len(orgs)
