"""Password-reset and sign-up links: single-use, hashed, expiring. No Flask here.

The token is 32 random bytes (256 bits, url-safe); only its SHA-256 reaches the database.
Every look-up before anyone is signed in goes through a narrow definer function
(migrations/versions/0011_accounts.py); the app role cannot read ``signup_requests`` at all
and reads ``account_tokens`` only for the signed-in person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.members.invitations import hash_token, new_token

PROBLEMS = {
    "not_found": (404, "This link is not valid"),
    "used": (410, "This link was already used"),
    "expired": (410, "This link has expired"),
    "exists": (409, "You already have an account"),
}


@dataclass(frozen=True)
class Link:
    """A freshly issued link: the clear token goes into one mail and nowhere else."""

    token: str
    email: str
    name: str


# ------------------------------------------------------------------------ password reset


def request_reset(
    session: Session, email: str, *, ttl_minutes: int, max_per_hour: int, ip: str
) -> Link | None:
    """A reset link for that address, or None (unknown, deactivated or throttled)."""
    token, digest = new_token()
    row = session.execute(
        text("SELECT user_id, email, name FROM"
             " app_password_reset_request(:email, :hash, :ttl, :max, :ip)"),
        {"email": email[:254], "hash": digest, "ttl": ttl_minutes * 60, "max": max_per_hour,
         "ip": ip},
    ).one_or_none()
    return Link(token, row.email, row.name) if row else None


def reset_status(session: Session, token: str) -> tuple[str, str | None]:
    """('valid' | 'used' | 'expired' | 'not_found', the address it resets)."""
    row = session.execute(
        text("SELECT email, status FROM app_password_reset_lookup(:hash)"),
        {"hash": hash_token(token[:200])},
    ).one_or_none()
    return (row.status, row.email) if row else ("not_found", None)


def complete_reset(
    session: Session, token: str, password_hash: str
) -> tuple[str, uuid.UUID | None]:
    """Set the password, spend the link and end every session of the person, atomically."""
    row = session.execute(
        text("SELECT outcome, user_id FROM app_password_reset_complete(:hash, :pw)"),
        {"hash": hash_token(token[:200]), "pw": password_hash},
    ).one()
    return row.outcome, row.user_id


# ------------------------------------------------------------------------ open sign-up


def request_signup(
    session: Session, email: str, name: str, password_hash: str, *, ttl_hours: int,
    max_per_hour: int, ip: str,
) -> tuple[str, str]:
    """('sent' | 'exists' | 'throttled', the clear token for the mail when 'sent')."""
    token, digest = new_token()
    outcome = session.scalar(
        text("SELECT app_signup_request(:email, :name, :pw, :hash, :ttl, :max, :ip)"),
        {"email": email, "name": name, "pw": password_hash, "hash": digest,
         "ttl": ttl_hours * 3600, "max": max_per_hour, "ip": ip},
    )
    return outcome, token


def complete_signup(session: Session, token: str) -> tuple[str, uuid.UUID | None]:
    """('created' | 'used' | 'expired' | 'not_found' | 'exists', the new person's id)."""
    row = session.execute(
        text("SELECT outcome, user_id FROM app_signup_complete(:hash)"),
        {"hash": hash_token(token[:200])},
    ).one()
    return row.outcome, row.user_id


# ------------------------------------------------------------------------ joining by domain


@dataclass(frozen=True)
class Joinable:
    org_id: uuid.UUID
    slug: str
    name: str
    role: str


def joinable_orgs(session: Session) -> list[Joinable]:
    """Orgs the signed-in person may join by their verified email domain."""
    rows = session.execute(text("SELECT org_id, slug, name, role FROM app_account_joinable_orgs()"))
    return [Joinable(*row) for row in rows]


def join_by_domain(session: Session, org_id: uuid.UUID) -> str | None:
    """Join with the org's default role; None when that is not (or no longer) allowed."""
    return session.scalar(text("SELECT app_account_join_by_domain(:org)"), {"org": org_id})
