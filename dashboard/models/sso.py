"""Per-tenant SSO: connections, verified domains, external identities (tenant tables) and
the login requests / replay cache written before anyone is known (global tables)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base, created_at


class SsoConnection(Base):
    __tablename__ = "sso_connections"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str]  # 'saml' | 'oidc'
    enabled: Mapped[bool] = mapped_column(default=True)
    config: Mapped[dict] = mapped_column(JSONB, default=dict)
    client_secret: Mapped[bytes | None]  # sealed, see dashboard/sso/crypto.py
    default_role: Mapped[str] = mapped_column(default="member")
    attribute_map: Mapped[dict] = mapped_column(JSONB, default=dict)
    allow_idp_initiated: Mapped[bool] = mapped_column(default=False)
    require_sso: Mapped[bool] = mapped_column(default=False)
    owner_break_glass: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SsoDomain(Base):
    __tablename__ = "sso_domains"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    domain: Mapped[str]
    token: Mapped[str]
    verified_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class SsoIdentity(Base):
    __tablename__ = "sso_identities"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    connection_id: Mapped[uuid.UUID]
    issuer: Mapped[str]
    subject: Mapped[str]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str | None]
    created_at: Mapped[datetime] = created_at()
    last_login_at: Mapped[datetime | None]


class SsoLoginRequest(Base):
    __tablename__ = "sso_login_requests"

    id: Mapped[str] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID]
    connection_id: Mapped[uuid.UUID]
    purpose: Mapped[str]  # 'login' | 'test' | 'idp_initiated'
    user_id: Mapped[uuid.UUID | None]
    nonce: Mapped[str | None]
    code_verifier: Mapped[str | None]
    next_path: Mapped[str | None]
    # The org host (scheme://host[:port]) the sign-in started on: the browser is sent back
    # there after the IdP, since its session cookie is host-only (dashboard/hosts).
    return_url: Mapped[str | None]
    result: Mapped[dict | None] = mapped_column(JSONB)
    consumed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]


class SsoSeenAssertion(Base):
    __tablename__ = "sso_seen_assertions"

    org_id: Mapped[uuid.UUID]
    connection_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    assertion_id: Mapped[str] = mapped_column(primary_key=True)
    expires_at: Mapped[datetime]
