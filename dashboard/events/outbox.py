"""The outbox: from audit rows to deliveries. No Flask here.

Emitting costs the request one INSERT: the trigger ``audit_events_to_outbox`` (migration
0011_events) adds an ``event_outbox`` row for every audit row of an org that has an enabled
destination, in the audit row's transaction — so a rolled-back change emits nothing and a
committed one is never lost. ``dispatch`` (run by the worker in the org's RLS context) maps
each row's audit action through the catalogue and creates one delivery per matching
destination: webhooks get the catalogued types their filter accepts, audit-log streams get
every audit event. Rows are claimed ``FOR UPDATE SKIP LOCKED``, so two workers never
dispatch the same row.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.audit.service import SYSTEM, record_audit
from dashboard.events.catalogue import message_id, types_for
from dashboard.events.endpoints import WEBHOOK
from dashboard.licenses import enforcement
from dashboard.licenses import service as licenses
from dashboard.licenses.features import Feature
from dashboard.usage import service as usage_service

STREAM_EVENT = "audit"  # event_type of a stream delivery: the whole audit record

_CLAIM = text(
    "SELECT o.seq, o.audit_event_id, a.action FROM event_outbox o"
    " JOIN audit_events a ON a.org_id = o.org_id AND a.id = o.audit_event_id"
    " WHERE o.dispatched_at IS NULL ORDER BY o.seq LIMIT :n FOR UPDATE OF o SKIP LOCKED"
)
_DESTINATIONS = text(
    "SELECT id, kind, event_types FROM event_destinations WHERE enabled ORDER BY id"
)
_INSERT = text(
    "INSERT INTO event_deliveries (org_id, destination_id, outbox_seq, event_type, message_id)"
    " SELECT :org, d, s, t, m FROM unnest(CAST(:dest AS uuid[]), CAST(:seq AS bigint[]),"
    "   CAST(:type AS text[]), CAST(:msg AS text[])) AS x(d, s, t, m)"
    " ON CONFLICT DO NOTHING"
)
_DONE = text(
    "UPDATE event_outbox SET dispatched_at = clock_timestamp()"
    " WHERE seq = ANY(CAST(:seq AS bigint[]))"
)


# Endpoints made while the plan had the feature receive nothing once it is gone.
enforcement.point(Feature.WEBHOOKS, "webhook-delivery",
                  "the worker queues no webhook delivery for an org without webhooks")
enforcement.point(Feature.AUDIT_STREAMING, "audit-stream-delivery",
                  "the worker queues no audit-stream batch for an org without streaming")


def dispatch(session: Session, org_id: uuid.UUID, batch: int = 500) -> int:
    """Turn up to ``batch`` outbox rows of the session's org into deliveries. Returns how
    many rows were dispatched. The caller commits."""
    rows = session.execute(_CLAIM, {"n": batch}).all()
    if not rows:
        return 0
    entitled = licenses.entitlements(session, org_id)
    destinations = [
        d for d in session.execute(_DESTINATIONS).all()
        if entitled.has(Feature.WEBHOOKS if d.kind == WEBHOOK else Feature.AUDIT_STREAMING)
    ]
    dest, seqs, types, msgs = [], [], [], []
    for row in rows:
        for destination in destinations:
            if destination.kind == WEBHOOK:
                wanted = set(destination.event_types or ())
                for event_type in types_for(row.action):
                    if not wanted or event_type.value in wanted:
                        dest.append(destination.id)
                        seqs.append(row.seq)
                        types.append(event_type.value)
                        msgs.append(message_id(row.audit_event_id, event_type.value))
            else:
                dest.append(destination.id)
                seqs.append(row.seq)
                types.append(STREAM_EVENT)
                msgs.append(f"aud_{str(row.audit_event_id).replace('-', '')}")
    if dest:
        session.execute(_INSERT, {"org": org_id, "dest": dest, "seq": seqs, "type": types,
                                  "msg": msgs})
    session.execute(_DONE, {"seq": [row.seq for row in rows]})
    return len(rows)


# ------------------------------------------------------------------------------ retention

_PRUNE_DELIVERIES = text(
    "DELETE FROM event_deliveries WHERE status <> 'pending'"
    " AND finished_at < now() - make_interval(days => :days)"
)
_PRUNE_OUTBOX = text(
    "DELETE FROM event_outbox o WHERE o.dispatched_at < now() - make_interval(days => :days)"
    " AND NOT EXISTS (SELECT 1 FROM event_deliveries x"
    "                  WHERE x.org_id = o.org_id AND x.outbox_seq = o.seq)"
)


def prune(session: Session, days: int) -> int:
    """Forget finished deliveries (and their attempt log) and dispatched outbox rows older
    than ``days`` in the session's org. The audit log itself is never touched."""
    deleted = session.execute(_PRUNE_DELIVERIES, {"days": days}).rowcount
    return deleted + session.execute(_PRUNE_OUTBOX, {"days": days}).rowcount


# ----------------------------------------------------------------- events without a user
# A quota warning has no user action behind it; it becomes an audit row like everything
# else (actor "system"), and so an event.


@usage_service.on_quota_warning
def _quota_warning(session: Session, org_id: uuid.UUID, status) -> None:
    record_audit(
        session, org_id=org_id, actor=SYSTEM, action="usage.quota_warning",
        target=f"metric:{status.metric}",
        details={"metric": status.metric, "used": status.used, "limit": status.limit,
                 "period": status.period, "hard": status.hard,
                 "resets_on": status.resets_on.isoformat() if status.resets_on else None},
    )
