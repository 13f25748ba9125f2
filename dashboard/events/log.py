"""The delivery log of a destination: what was sent, when, with what answer; manual
redelivery. No Flask here; runs in the caller's RLS-scoped session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.models import DeliveryAttempt, EventDelivery, EventDestination

PAGE = 50


@dataclass(frozen=True)
class LogRow:
    id: uuid.UUID
    event_type: str
    message_id: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    last_snippet: str | None


_LOG = text(
    """
    SELECT d.id, d.event_type, d.message_id, d.status, d.attempts, d.created_at,
           d.next_attempt_at, d.finished_at, a.status_code, a.latency_ms, a.error,
           a.response_snippet
      FROM event_deliveries d
      LEFT JOIN LATERAL (SELECT * FROM event_delivery_attempts x
                          WHERE x.org_id = d.org_id AND x.delivery_id = d.id
                          ORDER BY x.attempt DESC LIMIT 1) a ON true
     WHERE d.destination_id = :dest AND (CAST(:one AS uuid) IS NULL OR d.id = :one)
     ORDER BY d.created_at DESC, d.id DESC
     LIMIT :n
    """
)


def recent(session: Session, destination_id: uuid.UUID, limit: int = PAGE,
           delivery_id: uuid.UUID | None = None) -> list[LogRow]:
    rows = session.execute(_LOG, {"dest": destination_id, "n": limit,
                                  "one": delivery_id}).all()
    return [LogRow(*row) for row in rows]


def attempts(session: Session, delivery_id: uuid.UUID) -> list[DeliveryAttempt]:
    return list(session.scalars(select(DeliveryAttempt).where(
        DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.attempt)))


def counts(session: Session, destination_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(text(
        "SELECT status, count(*) FROM event_deliveries WHERE destination_id = :d"
        " GROUP BY status"), {"d": destination_id}).all()
    return {status: n for status, n in rows}


def redeliver(session: Session, destination: EventDestination, delivery_id, *,
              actor: Actor) -> EventDelivery | None:
    """Send a delivered, failed or cancelled event again (one more attempt, now)."""
    try:
        parsed = uuid.UUID(str(delivery_id))
    except ValueError:
        return None
    delivery = session.scalar(select(EventDelivery).where(
        EventDelivery.id == parsed, EventDelivery.destination_id == destination.id
    ).with_for_update())
    if delivery is None:
        return None
    if delivery.status != "pending":
        delivery.status = "pending"
        delivery.finished_at = None
        delivery.lease_until = None
        delivery.next_attempt_at = session.scalar(select(text("clock_timestamp()")))
        session.flush()
        record_audit(session, org_id=destination.org_id, actor=actor,
                     action=f"{'audit_stream' if destination.is_stream else 'webhook'}.redeliver",
                     target=f"delivery:{delivery.id}", details={"event": delivery.message_id})
    return delivery
