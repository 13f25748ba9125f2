"""One's own profile: name, email change, password change, session freshness. No Flask here.

Writes to one's own ``users`` row go through narrow definer functions (app_account_*), which
act on ``app.user_id`` only: the runtime role needs no write privilege on ``users``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from dashboard.members.invitations import hash_token, new_token
from dashboard.models import AccountToken, UserSession


class ProfileError(Exception):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def password_hash(session: Session) -> str | None:
    """The signed-in person's own hash (to check "current password"); None: no password."""
    return session.scalar(text("SELECT app_account_password_hash()"))


def set_name(session: Session, name: str) -> None:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise ProfileError("Enter a name of at most 100 characters.", "name")
    session.execute(text("SELECT app_account_set_name(:n)"), {"n": name})


def set_password(session: Session, new_hash: str, keep_session: uuid.UUID) -> int:
    """Set one's password; every other session ends. Returns how many ended."""
    return session.scalar(text("SELECT app_account_set_password(:h, :keep)"),
                          {"h": new_hash, "keep": keep_session})


def normal_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ProfileError("Enter a valid email address.", "email") from exc


def request_email_change(
    session: Session, user_id: uuid.UUID, current: str, new_email: str, *, ttl_hours: int,
    ip: str,
) -> tuple[str, str]:
    """A link for the new address: (normalised address, clear token for its mail)."""
    address = normal_email(new_email)
    if address.lower() == current.lower():
        raise ProfileError("That is already your email address.", "email")
    if not session.scalar(text("SELECT app_account_email_free(:e)"), {"e": address}):
        raise ProfileError("Another account uses that address.", "email")
    token, digest = new_token()
    # Core INSERT without RETURNING: the runtime role cannot read token_hash back.
    session.execute(insert(AccountToken).values(
        user_id=user_id, purpose="email_change", token_hash=digest, new_email=address,
        ip=ip[:64], expires_at=datetime.now(UTC) + timedelta(hours=ttl_hours)))
    return address, token


def pending_email(session: Session, user_id: uuid.UUID) -> str | None:
    return session.scalar(
        select(AccountToken.new_email)
        .where(AccountToken.user_id == user_id, AccountToken.purpose == "email_change",
               AccountToken.used_at.is_(None), AccountToken.expires_at > datetime.now(UTC))
        .order_by(AccountToken.created_at.desc()).limit(1))


def confirm_email(session: Session, token: str) -> tuple[str, str | None, str | None]:
    """('changed' | 'used' | 'expired' | 'not_found' | 'taken', old address, new address).
    Only the person who asked can use the link (the function checks app.user_id)."""
    row = session.execute(
        text("SELECT outcome, old_email, new_email FROM app_account_confirm_email(:h)"),
        {"h": hash_token(token[:200])}).one()
    return row.outcome, row.old_email, row.new_email


def mark_proven(session: Session, session_id: uuid.UUID, mfa_method: str | None = None) -> None:
    """The person just proved it (password or a factor): step-up is fresh again, and a
    second factor counts for this session (orgs that require MFA)."""
    values: dict = {"reauth_at": func.now()}
    if mfa_method:
        values["mfa_method"] = mfa_method
    session.execute(update(UserSession).where(UserSession.id == session_id).values(**values))
