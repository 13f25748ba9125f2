"""The append-only audit log (INSERT and SELECT only for the runtime role)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    actor_user_id: Mapped[uuid.UUID | None]
    actor: Mapped[str]
    action: Mapped[str]
    target: Mapped[str | None]
    ip: Mapped[str | None]
    user_agent: Mapped[str | None]
    details: Mapped[dict] = mapped_column(JSONB, server_default="{}")
