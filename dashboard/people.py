"""The one door to other people's rows. No Flask here.

``users`` and ``user_sessions`` are person-scoped (``table_kinds.Kind.PERSON``, migration
``0011_people``): under the runtime role a query sees the current person's own row and
sessions, plus the ``users`` rows of the current org's members (id, email, name, is_staff,
is_active, last_org_id, created_at; never ``password_hash``). Reading your own row is plain
ORM (``session.get(User, me)`` while acting as ``me``); the members list is a plain join.

Everything that crosses people, or happens before anyone is known, goes through the narrow
SECURITY DEFINER functions wrapped here, each returning only what its step needs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session


def normal_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class LoginCheck:
    """What sign-in may know before the password is checked: never the hash itself."""

    throttled: bool
    attempt_id: int | None = None
    hash_template: str | None = None  # algorithm, cost and salt; digest masked


def login_begin(
    session: Session, email: str, ip: str, *, window_seconds: int, max_per_email: int,
    max_per_ip: int,
) -> LoginCheck:
    """Serialise sign-in attempts on ``email`` and record this one as a failure.

    The database holds a transaction-level lock on the email until the caller's transaction
    ends, after ``login_finish``: commit either way.
    """
    row = session.execute(
        text("SELECT outcome, attempt_id, hash_template"
             " FROM app_login_begin(:email, :ip, :window, :per_email, :per_ip)"),
        {"email": normal_email(email), "ip": ip[:64], "window": window_seconds,
         "per_email": max_per_email, "per_ip": max_per_ip},
    ).one()
    if row.outcome == "throttled":
        return LoginCheck(throttled=True)
    return LoginCheck(False, row.attempt_id, row.hash_template)


def login_finish(
    session: Session, check: LoginCheck, email: str, candidate: str
) -> uuid.UUID | None:
    """The user whose stored hash equals ``candidate`` (the typed password hashed with
    ``check.hash_template``), else None. One check per attempt."""
    return session.scalar(
        text("SELECT app_login_finish(:attempt, :email, :candidate)"),
        {"attempt": check.attempt_id, "email": normal_email(email), "candidate": candidate},
    )


def email_taken(session: Session, email: str) -> bool:
    return bool(session.scalar(text("SELECT app_email_taken(:e)"), {"e": email}))


def create_user(session: Session, *, email: str, name: str, password_hash: str | None) -> uuid.UUID:
    """A new account whose id is the session's current user (bind the fresh id first).
    A taken email raises IntegrityError."""
    return session.scalar(
        text("SELECT app_create_user(:e, :n, :h)"),
        {"e": email, "n": name, "h": password_hash},
    )


def set_last_org(session: Session, org_id: uuid.UUID) -> None:
    """Where the current person's next sign-in lands (only an org they belong to)."""
    session.execute(text("SELECT app_set_last_org(:o)"), {"o": org_id})


def recent_orgs(session: Session) -> list[uuid.UUID]:
    """The orgs the current person opened last, most recent first (kept by app_set_last_org)."""
    return list(session.scalar(text("SELECT app_recent_orgs()")) or [])


def set_time_zone(session: Session, zone: str) -> None:
    """The current person's time zone (an IANA name the caller has checked)."""
    session.execute(text("SELECT app_set_time_zone(:z)"), {"z": zone})


def session_live(
    session: Session, session_id: uuid.UUID, user_id: uuid.UUID, org_id: uuid.UUID,
    idle: timedelta,
) -> bool:
    """Is this browser session still live for exactly this (user, org)? (Access tokens.)"""
    return bool(session.scalar(
        text("SELECT app_session_live(:s, :u, :o, :idle)"),
        {"s": session_id, "u": user_id, "o": org_id, "idle": idle},
    ))


def revoke_org_password_sessions(session: Session, *, keep_owners: bool) -> int:
    """End the password sessions active in the current org (SSO just became required)."""
    return session.scalar(
        text("SELECT app_revoke_org_password_sessions(:k)"), {"k": keep_owners}
    ) or 0
