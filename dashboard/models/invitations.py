"""Email invitations to join an org. The token is stored only as its SHA-256 hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base, created_at


class Invitation(Base):
    __tablename__ = "invitations"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    email: Mapped[str]
    role: Mapped[str]
    message: Mapped[str | None]
    # Written by the app, never readable by it (column privileges, migration 0011).
    token_hash: Mapped[bytes] = mapped_column(deferred=True, deferred_raiseload=True)
    status: Mapped[str] = mapped_column(server_default="pending")  # pending|accepted|revoked
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    sent_at: Mapped[datetime] = mapped_column(server_default=func.now())
    send_count: Mapped[int] = mapped_column(server_default="1")
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
