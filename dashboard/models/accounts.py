"""A person's own secrets: account links, TOTP, recovery codes, passkeys (person-scoped RLS)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Text

from dashboard.models.base import Base, created_at, uuid_pk


class AccountToken(Base):
    """A password-reset or email-change link; only the SHA-256 of the token is stored."""

    __tablename__ = "account_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str]  # 'password_reset' | 'email_change'
    token_hash: Mapped[bytes]
    new_email: Mapped[str | None]
    ip: Mapped[str | None]
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TotpFactor(Base):
    __tablename__ = "mfa_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    secret_enc: Mapped[str]  # sealed with dashboard.secretbox, never plain
    confirmed_at: Mapped[datetime | None]
    last_used_step: Mapped[int | None]
    created_at: Mapped[datetime] = created_at()


class RecoveryCode(Base):
    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    code_hash: Mapped[bytes]
    created_at: Mapped[datetime] = created_at()
    used_at: Mapped[datetime | None]


class MfaFailure(Base):
    """A wrong second-factor code (brute-force throttling)."""

    __tablename__ = "mfa_failures"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    ip: Mapped[str | None]


class Passkey(Base):
    __tablename__ = "passkeys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    credential_id: Mapped[bytes]
    public_key: Mapped[bytes]
    sign_count: Mapped[int] = mapped_column(server_default="0")
    name: Mapped[str]
    transports: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None]
    # The relying party (host name) it was made for; NULL: the installation's (made before
    # passkeys worked on org hosts).
    rp_id: Mapped[str | None]
