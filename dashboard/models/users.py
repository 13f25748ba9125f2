"""People and their browser sessions (person-scoped: a person exists across orgs).

Under the runtime role only one's own row and the current org's members are visible, and
``password_hash`` is not readable at all (column privileges): it is deferred with raiseload
so touching it raises at once instead of failing in the database. Cross-person steps go
through ``dashboard/people.py``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base, created_at, uuid_pk


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str]
    name: Mapped[str]
    password_hash: Mapped[str | None] = mapped_column(deferred=True, deferred_raiseload=True)
    is_staff: Mapped[bool] = mapped_column(server_default="false")
    is_active: Mapped[bool] = mapped_column(server_default="true")
    last_org_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()
    time_zone: Mapped[str | None]  # IANA name; None: not known yet (pages show UTC)


class UserSession(Base):
    """Server-side half of a browser session token; revoking it logs that token out."""

    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    org_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ip: Mapped[str | None]
    user_agent: Mapped[str | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None]
    # 'password' | 'sso' | 'break_glass'; an SSO session is bound to sso_org_id only.
    auth_method: Mapped[str] = mapped_column(default="password")
    sso_org_id: Mapped[uuid.UUID | None]
    # Carried across org switches (dashboard/accounts): when the person signed in, when they
    # last proved it (step-up), and the second factor this sign-in used (None: none).
    signed_in_at: Mapped[datetime] = mapped_column(server_default=func.now())
    reauth_at: Mapped[datetime] = mapped_column(server_default=func.now())
    mfa_method: Mapped[str | None]
    # The verified custom domain this session was used on (dashboard/hosts binds it): the
    # domain removed or un-verified, a trigger revokes the row (migration 0037).
    host_domain_id: Mapped[uuid.UUID | None]


class LoginAttempt(Base):
    """Failed sign-ins; the runtime role has no privilege on it (app_login_begin does)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_key: Mapped[str]
    ip: Mapped[str]
    at: Mapped[datetime] = mapped_column(server_default=func.now())
