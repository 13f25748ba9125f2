"""Audit-log streams: every audit event of the org, in order, to the org's SIEM. No Flask.

One worker at a time holds a stream (the destination's ``lease_until``), sends its oldest
pending events as one batch, and records the result for all of them; a failed batch is sent
again (same retries as webhooks) before anything newer, so the receiver sees the log in
order. The lease doubles as the back-off: a failing stream is not claimed again before its
retry time. Lag = age of the oldest pending event.

Formats: ``stream_https`` POSTs a JSON array of audit records (``Authorization: Bearer``
with the token, if one was given); ``stream_splunk`` POSTs Splunk HTTP Event Collector
events (``Authorization: Splunk <token>``, one JSON object per line).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from dashboard.events import catalogue
from dashboard.events.deliveries import USER_AGENT, Claim, Settings, audit_rows
from dashboard.events.endpoints import unseal
from dashboard.models import EventDelivery

_CLAIM_STREAM = text(
    """
    UPDATE event_destinations e
       SET lease_until = clock_timestamp() + make_interval(secs => :lease)
     WHERE (e.org_id, e.id) = (
       SELECT x.org_id, x.id FROM event_destinations x
        WHERE x.kind <> 'webhook' AND x.enabled
          AND (x.lease_until IS NULL OR x.lease_until < clock_timestamp())
          AND EXISTS (SELECT 1 FROM event_deliveries d
                       WHERE d.org_id = x.org_id AND d.destination_id = x.id
                         AND d.status = 'pending')
        ORDER BY x.lease_until NULLS FIRST LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING e.id, e.kind, e.url, e.secret_sealed, e.lease_until
    """
)
_HEAD = text(
    """
    UPDATE event_deliveries d SET attempts = d.attempts + 1, lease_until = :token
      FROM (SELECT id FROM event_deliveries
             WHERE destination_id = :dest AND status = 'pending'
             ORDER BY outbox_seq LIMIT :n) head
     WHERE d.id = head.id
    RETURNING d.id, d.outbox_seq, d.attempts
    """
)


def claim_stream(session: Session, org_id: uuid.UUID, settings: Settings) -> Claim | None:
    """Claim one stream of the session's org with its oldest pending events (a batch)."""
    stream = session.execute(_CLAIM_STREAM, {"lease": settings.lease_seconds}).one_or_none()
    if stream is None:
        return None
    rows = sorted(session.execute(_HEAD, {"token": stream.lease_until, "dest": stream.id,
                                          "n": settings.stream_batch}).all(),
                  key=lambda r: r.outbox_seq)
    if not rows:
        return None
    audits = audit_rows(session, {r.outbox_seq for r in rows})
    records = [catalogue.audit_record(audits[r.outbox_seq]) for r in rows]
    token = unseal(settings.secret_key, stream.secret_sealed)
    body, headers = format_batch(stream.kind, records, token)
    return Claim(org_id=org_id, destination_id=stream.id, url=stream.url,
                 deliveries=tuple((r.id, r.attempts) for r in rows), token=stream.lease_until,
                 body=body, headers=headers, stream=True,
                 emitted_at=audits[rows[0].outbox_seq].at)


def format_batch(kind: str, records: list[dict], token: str | None) -> tuple[bytes, dict]:
    headers = {"User-Agent": USER_AGENT}
    if kind == "stream_splunk":
        lines = [json.dumps({
            "time": datetime.fromisoformat(r["timestamp"]).timestamp(),
            "source": "tenantdesk",
            "sourcetype": "tenantdesk:audit",
            "event": r,
        }, separators=(",", ":"), sort_keys=True) for r in records]
        headers["Content-Type"] = "application/json"
        headers["Authorization"] = f"Splunk {token or ''}"
        return "\n".join(lines).encode(), headers
    headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return json.dumps(records, separators=(",", ":"), sort_keys=True).encode(), headers


def lag_seconds(session: Session, destination_id: uuid.UUID) -> float:
    """Age of the oldest event not yet delivered to the stream (0 when caught up)."""
    oldest = session.scalar(select(func.min(EventDelivery.created_at)).where(
        EventDelivery.destination_id == destination_id, EventDelivery.status == "pending"))
    if oldest is None:
        return 0.0
    now = session.scalar(select(func.clock_timestamp()))
    return max(0.0, (now - oldest).total_seconds())
