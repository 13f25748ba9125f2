"""Recording usage: idempotent events and their daily rollups, quotas enforced. No Flask here.

Every batch is ONE SQL statement: insert the events (``ON CONFLICT (org_id, idempotency_key)
DO NOTHING``), aggregate only the rows that were actually inserted, and upsert those into
``usage_daily``. A retried batch therefore never counts twice, and two concurrent batches
sharing keys count each event once: the second waits on the first's uncommitted key and then
sees a conflict (or inserts it, if the first rolled back).

Locks are taken in one global order (event keys sorted, then rollup rows sorted by metric and
day, all in the same statement), so overlapping batches wait for each other instead of
deadlocking. The same statement raises the org's rollup revision (``usage_revisions``), which
the cached charts and chart data are keyed on: a rollup changes only with its revision.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.metadata import rules as metadata_rules
from dashboard.usage import quotas
from dashboard.usage.metrics import GAUGES, METRICS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventIn:
    metric: str
    quantity: int
    occurred_at: datetime
    idempotency_key: str
    metadata: dict[str, str] | None = None  # checked by dashboard/metadata/rules.py


@dataclass(frozen=True)
class QuotaStatus:
    metric: str
    limit: int
    used: int
    hard: bool
    period: str  # 'day' | 'month' | 'current'
    resets_on: date | None  # None: a level, which goes down only when usage does

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.limit if self.limit else 100.0

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


@dataclass(frozen=True)
class BatchResult:
    accepted: int  # newly recorded events
    duplicates: int  # events already recorded under the same key (retries)
    warnings: list[QuotaStatus] = field(default_factory=list)  # quotas at or past 80 %


class QuotaExceeded(Exception):
    def __init__(self, status: QuotaStatus) -> None:
        label = METRICS[status.metric].label.lower()
        words = {"day": "per day", "month": "per month"}.get(status.period, "at a time")
        message = (f"Quota exceeded: the plan allows {status.limit:,} {label} {words};"
                   f" this would make {status.used:,}.")
        if status.resets_on:
            message += f" The quota resets on {status.resets_on.isoformat()} (UTC)."
        super().__init__(message + " Upgrade the plan for more.")
        self.status = status


# Called once per org, metric and period when usage first reaches 80 % of a quota:
# (session, org_id, status). Replaced by the mailer when one is configured.
QuotaWarningHook = Callable[[Session, uuid.UUID, QuotaStatus], None]
_warning_hooks: list[QuotaWarningHook] = []


def on_quota_warning(hook: QuotaWarningHook) -> QuotaWarningHook:
    _warning_hooks.append(hook)
    return hook


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_INGEST_TEMPLATE = """
    WITH input AS (
      SELECT * FROM unnest(CAST(:metrics AS text[]), CAST(:quantities AS bigint[]),
                           CAST(:micros AS bigint[]), CAST(:keys AS text[]))
             AS t(metric, quantity, micros, idempotency_key)
    ), inserted AS (
      INSERT INTO usage_events (org_id, metric, quantity, occurred_at, idempotency_key)
      SELECT CAST(:org_id AS uuid), metric, quantity,
             timestamptz '1970-01-01 00:00:00+00' + micros * interval '1 microsecond',
             idempotency_key
        FROM input ORDER BY idempotency_key
      ON CONFLICT (org_id, idempotency_key) DO NOTHING
      RETURNING metric, quantity, occurred_at{returning}
    ), per_day AS (
      SELECT metric, (occurred_at AT TIME ZONE 'UTC')::date AS day,
             CASE WHEN metric = ANY(CAST(:gauges AS text[])) THEN max(quantity)
                  ELSE sum(quantity)::bigint END AS total,
             count(*) AS n
        FROM inserted GROUP BY 1, 2
    ), revised AS (
      -- The org's rollup revision (dashboard/usage/cache.py), raised once per statement
      -- that changes a rollup. Its row is locked BEFORE any rollup row (upserted waits for
      -- it): writers of one org queue here, in commit order, and never deadlock on it.
      INSERT INTO usage_revisions AS r (org_id, revision)
      SELECT CAST(:org_id AS uuid), 1 WHERE EXISTS (SELECT FROM per_day)
      ON CONFLICT (org_id) DO UPDATE SET revision = r.revision + 1
      RETURNING revision
    ), upserted AS (
      INSERT INTO usage_daily AS d (org_id, metric, day, total)
      SELECT CAST(:org_id AS uuid), metric, day, total FROM per_day
       WHERE EXISTS (SELECT FROM revised) ORDER BY metric, day
      ON CONFLICT (org_id, metric, day) DO UPDATE
         SET total = CASE WHEN d.metric = ANY(CAST(:gauges AS text[]))
                          THEN GREATEST(d.total, EXCLUDED.total)
                          ELSE d.total + EXCLUDED.total END
      RETURNING metric, day
    ){tagged}
    SELECT (SELECT coalesce(sum(n), 0) FROM per_day) AS inserted,
           (SELECT coalesce(array_agg(metric || ' ' || day::text), '{{}}') FROM upserted)
             AS touched
    """
_INGEST_SQL = text(_INGEST_TEMPLATE.format(returning="", tagged=""))
# Batches with metadata: the same statement also writes the metadata of the events it
# inserted (a retried event's metadata stays as first recorded, like the event itself).
_INGEST_WITH_METADATA_SQL = text(_INGEST_TEMPLATE.format(
    returning=", id, idempotency_key",
    tagged=""",
    tagged AS (
      INSERT INTO usage_event_metadata (org_id, event_id, key, value)
      SELECT CAST(:org_id AS uuid), i.id, m.key, m.value
        FROM unnest(CAST(:meta_events AS text[]), CAST(:meta_keys AS text[]),
                    CAST(:meta_values AS text[])) AS m(idempotency_key, key, value)
        JOIN inserted i ON i.idempotency_key = m.idempotency_key
       ORDER BY i.id, m.key
    )""",
))


def record_usage(
    session: Session,
    org_id: uuid.UUID,
    metric: str,
    quantity: int,
    at: datetime,
    idempotency_key: str | None = None,
) -> bool:
    """Record one event; True if it was new (False: a retry of an already recorded key).

    Without a key every call counts. Give one (e.g. ``f"active:{user_id}:{day}"``) to make
    the call safe to repeat.
    """
    key = idempotency_key or f"auto:{uuid.uuid4().hex}"
    return record_batch(session, org_id, [EventIn(metric, quantity, at, key)]).accepted == 1


def record_batch(
    session: Session,
    org_id: uuid.UUID,
    events: Sequence[EventIn],
    *,
    today: date | None = None,
    enforce_quotas: bool = True,
) -> BatchResult:
    """Record events atomically in the caller's transaction (RLS: ``org_id`` must be the
    context's org). Raises QuotaExceeded, leaving the caller to roll back, when the batch
    takes a metric past a hard quota in the current period."""
    if not events:
        return BatchResult(0, 0)
    _check(events)
    params = {
        "org_id": org_id,
        "metrics": [e.metric for e in events],
        "quantities": [e.quantity for e in events],
        # Microseconds since the epoch: a list of ints travels ~8x cheaper than datetimes.
        "micros": [(e.occurred_at - _EPOCH) // _MICROSECOND for e in events],
        "keys": [e.idempotency_key for e in events],
        "gauges": list(GAUGES),
    }
    statement = _INGEST_SQL
    tagged = [e for e in events if e.metadata]
    if tagged:  # events without metadata pay nothing for it
        statement = _INGEST_WITH_METADATA_SQL
        pairs = [(e.idempotency_key, k, v) for e in tagged for k, v in e.metadata.items()]
        params["meta_events"], params["meta_keys"], params["meta_values"] = (
            list(column) for column in zip(*pairs, strict=True))
    row = session.execute(statement, params).one()
    inserted = int(row.inserted)
    result = BatchResult(inserted, len(events) - inserted)
    if not enforce_quotas or not inserted:
        return result
    touched = [entry.split(" ") for entry in row.touched]
    warnings = _apply_quotas(
        session, org_id, {(m, date.fromisoformat(d)) for m, d in touched}, today
    )
    return BatchResult(result.accepted, result.duplicates, warnings)


def _check(events: Iterable[EventIn]) -> None:
    # Trusted callers still get a clear error rather than a database one.
    for event in events:
        if event.metric not in METRICS:
            raise ValueError(f"unknown metric {event.metric!r}")
        if isinstance(event.quantity, bool) or not isinstance(event.quantity, int):
            raise ValueError("quantity must be an integer")
        if event.quantity < 0:
            raise ValueError("quantity must not be negative")
        if event.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        if event.metadata is not None:
            metadata_rules.check(event.metadata)


_PERIOD_SQL = text(
    """
    SELECT metric, day, total FROM usage_daily
     WHERE org_id = :org_id AND metric = ANY(CAST(:metrics AS text[]))
       AND day BETWEEN :start AND :end
    """
)


def _apply_quotas(
    session: Session, org_id: uuid.UUID, touched: set[tuple[str, date]], today: date | None
) -> list[QuotaStatus]:
    """Check the quotas of the metrics this batch wrote to, after writing (same transaction:
    the rollup rows are locked, so concurrent batches are checked one after the other)."""
    today = today or datetime.now(UTC).date()
    limits = quotas.plan_quotas(session)
    windows = {m: quotas.window(q, today) for m, q in limits.items()}
    metrics = sorted({m for m, d in touched if m in windows
                      and windows[m][0] <= d <= windows[m][1]})
    if not metrics:
        return []
    start = min(windows[m][0] for m in metrics)
    days: dict[str, dict[date, int]] = {m: {} for m in metrics}
    for metric, day, total in session.execute(
        _PERIOD_SQL, {"org_id": org_id, "metrics": metrics, "start": start, "end": today}
    ):
        if windows[metric][0] <= day:
            days[metric][day] = total
    warnings = []
    for metric in metrics:
        quota = limits[metric]
        status = QuotaStatus(metric, quota.limit, quotas.figure(metric, quota, days[metric]),
                             quota.hard, quota.period, quotas.resets_on(quota, today))
        if status.exceeded and quotas.enforced(metric, quota):
            raise QuotaExceeded(status)
        if status.percent >= quotas.WARN_AT_PERCENT:
            warnings.append(status)
            _warn_once(session, org_id, status, quotas.alert_period(quota, today))
    return warnings


_ALERT_SQL = text(
    """
    INSERT INTO usage_alerts (org_id, metric, period_start, threshold)
    VALUES (:org_id, :metric, :start, :threshold)
    ON CONFLICT DO NOTHING RETURNING 1
    """
)


def _warn_once(session: Session, org_id: uuid.UUID, status: QuotaStatus, period: date) -> None:
    fresh = session.execute(
        _ALERT_SQL,
        {"org_id": org_id, "metric": status.metric, "start": period,
         "threshold": quotas.WARN_AT_PERCENT},
    ).first()
    if fresh is None:
        return
    for hook in _warning_hooks:
        hook(session, org_id, status)


def api_call_event(now: datetime | None = None) -> EventIn:
    """One metered API request (a fresh key: every request counts once)."""
    return EventIn("api_calls", 1, now or datetime.now(UTC), f"api:{uuid.uuid4().hex}")
