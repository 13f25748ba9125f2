"""Machine principals of an org (API keys, SCIM tokens) and staff support grants."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Text

from dashboard.models.base import Base, created_at


class OrgCredential(Base):
    __tablename__ = "org_credentials"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    kind: Mapped[str]  # 'api_key' | 'scim'
    name: Mapped[str]
    prefix: Mapped[str]
    # Written by the app, never readable by it (column privileges, migration 0011).
    secret_hash: Mapped[bytes] = mapped_column(deferred=True, deferred_raiseload=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class SupportGrant(Base):
    __tablename__ = "support_grants"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    staff_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str]
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
