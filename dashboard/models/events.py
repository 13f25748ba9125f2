"""Events: destinations (webhook endpoints, audit-log streams), the outbox, deliveries and
their attempt log. All tenant tables under the RLS gate (migration 0011_events)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Text

from dashboard.models.base import Base, created_at


class EventDestination(Base):
    __tablename__ = "event_destinations"

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    kind: Mapped[str]  # 'webhook' | 'stream_https' | 'stream_splunk'
    url: Mapped[str]
    description: Mapped[str] = mapped_column(server_default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    secret_sealed: Mapped[str | None]
    previous_secret_sealed: Mapped[str | None]
    previous_secret_until: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(server_default="true")
    disabled_reason: Mapped[str | None]
    failing_since: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()

    @property
    def is_stream(self) -> bool:
        return self.kind != "webhook"


class OutboxEvent(Base):
    __tablename__ = "event_outbox"

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    audit_event_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    dispatched_at: Mapped[datetime | None]


class EventDelivery(Base):
    __tablename__ = "event_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "destination_id"],
                             ["event_destinations.org_id", "event_destinations.id"]),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    destination_id: Mapped[uuid.UUID]
    outbox_seq: Mapped[int]
    event_type: Mapped[str]
    message_id: Mapped[str]
    status: Mapped[str] = mapped_column(server_default="pending")
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    finished_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    __tablename__ = "event_delivery_attempts"

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    attempt: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    latency_ms: Mapped[int | None]
    status_code: Mapped[int | None]
    error: Mapped[str | None]
    response_snippet: Mapped[str | None]
    worker: Mapped[str | None]
