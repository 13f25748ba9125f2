"""Reading usage for charts, tables, CSV and JSON: from the daily rollups. No Flask.

A report costs one statement whatever the range: the org's rollup revision and (unless the
worker holds a report of that revision) the rollup rows of the range, the previous range (for
"change vs previous period") and the quota windows, read from the covering index
usage_daily_chart (org_id, metric, day) INCLUDE (total). The org's entitlements (the quotas,
the long-history check) come in the same statement when the transaction has not read them
yet, and the whole read may ride in another statement that reads the org (the org home's);
both only where the org's cells share the database with the control plane (every tier but
dedicated). A report built from the revision the database returned is kept per worker
(cache.py) and served without the rows. Raw events are read only for a report filtered by a
metadata value (rollups do not know metadata; such reports are never kept): the events that
carry it, found through the metadata index (org_id, key, value, event_id), summed per day by
the same rule as the rollups."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard import cell_reads, first_statement, tenancy
from dashboard.licenses import enforcement
from dashboard.licenses import service as licenses
from dashboard.licenses.features import Feature
from dashboard.usage import quotas
from dashboard.usage.cache import REPORTS
from dashboard.usage.metrics import GAUGES, METRICS, Metric, Rollup

RANGES = (7, 30, 90, 365)
DEFAULT_RANGE = 30
# Every plan sees this much history; longer ranges are the "advanced analytics" feature.
BASIC_HISTORY_DAYS = 30
LONG_HISTORY = enforcement.point(
    Feature.ADVANCED_ANALYTICS, "usage-long-history",
    f"Usage reports (page, CSV, JSON, API series) longer than {BASIC_HISTORY_DAYS} days",
)


def locked_ranges(session: Session) -> frozenset[int]:
    """The ranges the current org's plan does not include (shown with a lock)."""
    if licenses.has_feature(session, Feature.ADVANCED_ANALYTICS):
        return frozenset()
    return frozenset(d for d in RANGES if d > BASIC_HISTORY_DAYS)


class Point(NamedTuple):  # a tuple: up to 4 x 365 of them per report
    day: date
    value: int | None  # None: a gauge with no reading that day


@dataclass(frozen=True)
class MetricReport:
    metric: Metric
    points: list[Point]  # one per day of the range, oldest first
    total: int | None  # the range's figure: sum for flows, peak day for levels
    previous: int | None  # the same figure over the range before
    quota: quotas.Quota | None
    quota_used: int  # in the current quota period (month)

    @property
    def change_percent(self) -> float | None:
        if self.total is None or not self.previous:
            return None
        return 100.0 * (self.total - self.previous) / self.previous

    @property
    def quota_percent(self) -> float | None:
        if self.quota is None:
            return None
        return 100.0 * self.quota_used / self.quota.limit if self.quota.limit else 100.0

    @property
    def near_quota(self) -> bool:
        return (self.quota_percent or 0) >= quotas.WARN_AT_PERCENT

    @property
    def quota_line(self) -> float | None:
        """The quota as drawn on a daily chart: a monthly allowance of a flow becomes its
        daily share; a level's limit is drawn as is."""
        if self.quota is None:
            return None
        if self.quota.period == "month" and self.metric.per_period is Rollup.SUM:
            return self.quota.limit / 30
        return float(self.quota.limit)

    @property
    def quota_scope(self) -> str:
        """How the quota's figure is counted, for people: "this month", "today", "now"."""
        if self.quota is None:
            return ""
        return {"month": "this month", "day": "today"}.get(self.quota.period, "now")

    @property
    def quota_enforced(self) -> bool:
        return self.quota is not None and quotas.enforced(self.metric.name, self.quota)

    @property
    def values(self) -> list[int | None]:
        return [p.value for p in self.points]


@dataclass(frozen=True, eq=False)
class UsageReport:
    days: int
    start: date
    end: date
    metrics: list[MetricReport]
    # What is drawn from this report (the JSON body, the page's charts section), kept with
    # it: a report served from the cache (cache.py) brings them along and takes them when
    # it goes.
    memo: dict = field(default_factory=dict, repr=False)

    @property
    def warnings(self) -> list[MetricReport]:
        return [m for m in self.metrics if m.near_quota]


# The org's rollup revision (NULL when the gate lets nothing through) and, unless it is the
# revision the worker already holds (:usage_known), the range's rollups as three aligned
# arrays (metric, day, total). One row, so it can ride in another statement that reads the
# org on the same database (the chart data's entitlements, the org home's panels: one
# round trip fewer), and one snapshot: the rows are those of the revision returned. The
# OFFSET 0 keeps the revision test above the scan: on a hit neither the scan nor its RLS
# check runs. The covering index usage_daily_chart (0039) makes the rows an index-only scan.
ROLLUP_COLUMNS = ("ur.revision AS usage_revision, ud.metrics AS usage_metrics,"
                  " ud.days AS usage_days, ud.totals AS usage_totals")
ROLLUP_JOINS = """
  LEFT JOIN LATERAL (SELECT r.revision FROM usage_revisions r
                      WHERE r.org_id = CAST(:org_id AS uuid)) ur ON true
  CROSS JOIN LATERAL (
    SELECT array_agg(d.metric) AS metrics, array_agg(d.day) AS days,
           array_agg(d.total) AS totals
      FROM (SELECT d.metric, d.day, d.total FROM usage_daily d
             WHERE d.org_id = CAST(:org_id AS uuid)
               AND d.metric = ANY(CAST(:usage_metrics AS text[]))
               AND d.day BETWEEN :usage_since AND :usage_until OFFSET 0) d
     WHERE NOT coalesce(ur.revision = CAST(:usage_known AS bigint), false)) ud"""
# Riding in the session check's statement: for the org the check found (``chk.org_id``).
CHECKED_ORG_ROLLUP_JOINS = ROLLUP_JOINS.replace("CAST(:org_id AS uuid)", "chk.org_id")
assert ":org_id" not in CHECKED_ORG_ROLLUP_JOINS
# On its own (a dedicated org's database, or the entitlements known already). No
# .columns(): the tier router reads table names from a plain text() only.
_ROLLUPS_SQL = text(f"SELECT {ROLLUP_COLUMNS} FROM (SELECT 1) AS one {ROLLUP_JOINS}")
# With the org's entitlements (licenses/service.py), which a report needs anyway (the
# quotas, the long-history check) and nothing read yet in this transaction.
_WITH_ENTITLEMENTS_SQL = (
    f"SELECT {licenses.ENTITLEMENTS_COLUMNS}, {ROLLUP_COLUMNS}"
    f" FROM {licenses.ENTITLEMENTS_FROM} {ROLLUP_JOINS} WHERE o.id = CAST(:org_id AS uuid)"
)

# The entitlements alone, packed into a transaction's context statement (``_read_alone``).
_ENTITLEMENTS_ONLY_SQL = (
    f"SELECT {licenses.ENTITLEMENTS_COLUMNS} FROM {licenses.ENTITLEMENTS_FROM}"
    " WHERE o.id = CAST(:org_id AS uuid)"
)


# The same per-day figure as usage_daily (sum for flows, peak for levels), from the events
# whose metadata has key = value.
_TAGGED_SQL = text(
    """
    SELECT metric, array_agg(day ORDER BY day), array_agg(total ORDER BY day)
      FROM (SELECT e.metric, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
                   CASE WHEN e.metric = ANY(CAST(:gauges AS text[])) THEN max(e.quantity)
                        ELSE sum(e.quantity)::bigint END AS total
              FROM usage_event_metadata m
              JOIN usage_events e ON e.org_id = m.org_id AND e.id = m.event_id
             WHERE m.org_id = :org_id AND m.key = :key AND m.value = :value
               AND e.metric = ANY(CAST(:metrics AS text[]))
               AND e.occurred_at >= :since AND e.occurred_at < :until
             GROUP BY 1, 2) per_day
     GROUP BY metric
    """
)


def tagged_days(session: Session, org_id: uuid.UUID, metadata: tuple[str, str],
                metrics: Sequence[str], since: date, until: date) -> dict[str, dict[date, int]]:
    """Per metric, the daily figures of the events tagged ``metadata`` on days
    ``since`` .. ``until`` (both included)."""
    found: dict[str, dict[date, int]] = {name: {} for name in metrics}
    for metric, day_list, totals in session.execute(_TAGGED_SQL, {
        "org_id": org_id, "metrics": list(metrics), "gauges": list(GAUGES),
        "key": metadata[0], "value": metadata[1],
        "since": datetime.combine(since, time.min, UTC),
        "until": datetime.combine(until + timedelta(days=1), time.min, UTC),
    }):
        found[metric] = dict(zip(day_list, totals, strict=True))
    return found


def today_utc() -> date:
    return datetime.now(UTC).date()


def usage_report(
    session: Session,
    org_id: uuid.UUID,
    days: int = DEFAULT_RANGE,
    *,
    today: date | None = None,
    metrics: Sequence[str] = tuple(METRICS),
    metadata: tuple[str, str] | None = None,
    alone: bool = False,
) -> UsageReport:
    """The org's usage; with ``metadata`` (key, value), only events tagged with it, and no
    quota (quotas count the whole org). ``alone``: the caller (a ``principal_only`` view)
    has no transaction to share: the read may be one of its own (``RollupRead.read``)."""
    if days not in RANGES:
        raise ValueError(f"range must be one of {RANGES}")
    today = today or today_utc()
    if metadata is None:
        read = RollupRead(org_id, days, today, tuple(metrics))
        read.read(session, alone=alone)
        return read.report(session)
    if days > BASIC_HISTORY_DAYS:
        enforcement.require(session, LONG_HISTORY.feature)
    rows: dict[str, dict[date, int]] = {name: {} for name in metrics}
    rows.update(tagged_days(session, org_id, metadata, metrics,
                            _earliest_day(days, today), today))
    return _report_of(days, today, tuple(metrics), tuple((m, None) for m in metrics), rows)


def _earliest_day(days: int, today: date) -> date:
    """The first day a report needs: its previous range, or the earliest day any quota's
    window may start (so the rows serve every plan's quotas)."""
    previous_start = today - timedelta(days=2 * days - 1)
    return min(previous_start, quotas.earliest_window_start(today))


class RollupRead:
    """The rollups one report needs (org, range, today, metrics), read by a statement of its
    own (``read``) or carried by another statement on the same database: that statement
    adds ``ROLLUP_COLUMNS``/``ROLLUP_JOINS`` with ``params()`` and hands its row to
    ``take``. Then ``report`` gives the report, kept per worker (cache.py) with its quotas
    under the revision the database returned: the rows are not read again while it holds.
    """

    def __init__(self, org_id: uuid.UUID, days: int, today: date, metrics: tuple[str, ...]):
        self.org_id, self.days, self.today, self.metrics = org_id, days, today, metrics
        self.key = (org_id, days, today, metrics)
        self.known = REPORTS.revision_of(self.key)
        self.found: tuple | None = None  # (revision, metrics, days, totals)

    def params(self) -> dict:
        return {"org_id": self.org_id, "usage_metrics": list(self.metrics),
                "usage_since": _earliest_day(self.days, self.today),
                "usage_until": self.today, "usage_known": self.known}

    def take(self, row) -> None:
        self.found = (row.usage_revision, row.usage_metrics, row.usage_days, row.usage_totals)

    def read(self, session: Session, *, alone: bool = False) -> None:
        """Read the rollups unless a statement carried them; with the org's entitlements
        when this transaction has not read them yet (one statement, not two). ``alone``:
        the caller shares no transaction with this read (``_read_alone``)."""
        if self.found is not None:
            return
        org = tenancy.context_of(session).org_id
        if org is not None and str(org) == str(self.org_id):
            if alone and licenses.known_entitlements(session, org) is None \
                    and not session.in_transaction() and self._read_alone(session, org):
                return
            if licenses.known_entitlements(session, org) is None \
                    and cell_reads.cells_are_shared(session):
                # Raw psycopg for this hot text statement (first_statement.row: no result
                # machinery); it runs on the shared database, which holds the cells too.
                row = first_statement.row(session, _WITH_ENTITLEMENTS_SQL,
                                          {**self.params(), **licenses.entitlements_params()})
                if row is None:
                    raise licenses.OrgNotVisible(str(self.org_id))
                licenses.remember_entitlements(session, org, row)
                self.take(row)
                return
        if self.days > BASIC_HISTORY_DAYS:  # checked before any row is read
            enforcement.require(session, LONG_HISTORY.feature)
        (self.found,) = cell_reads.read_cells(session, _ROLLUPS_SQL, self.params())

    def _read_alone(self, session: Session, org) -> bool:
        """With nothing open (the principal's check ran alone: a ``principal_only`` view such
        as the chart data), the entitlements and the rollups in a transaction of their own,
        packed into its context statement (``tenancy.begin_with``, alone): one round trip, no
        BEGIN, no COMMIT. Only where a packed statement finds the org's cell tables (the
        shared tier, as the check's own context statement admitted the route); the gate
        runs every check again under this statement's context. Elsewhere the transaction
        the rollups are read in begins with the entitlements (control-plane tables, on the
        shared database for every tier) packed into its context statement, and False: the
        rollups are still to be read."""
        packable = cell_reads.cells_packable(session)
        if packable:  # the statement's :org_id is the context's (checked equal by the caller)
            params = {k: v for k, v in self.params().items() if k != "org_id"}
            sql = _WITH_ENTITLEMENTS_SQL
        else:
            params, sql = {}, _ENTITLEMENTS_ONLY_SQL
        row = tenancy.begin_with(session, sql, {**params, **licenses.entitlements_params()},
                                 alone=packable)
        if row is None:
            raise licenses.OrgNotVisible(str(self.org_id))
        licenses.remember_entitlements(session, org, row)
        if packable:
            self.take(row)
        return packable

    def report(self, session: Session) -> UsageReport:
        """The report from what was read (``read`` or ``take`` first)."""
        if self.days > BASIC_HISTORY_DAYS:  # the transaction's entitlements: no statement
            enforcement.require(session, LONG_HISTORY.feature)
        limits = quotas.plan_quotas(session)
        quota_key = tuple((m, limits.get(m)) for m in self.metrics)
        revision = self.found[0]
        if revision is not None and revision == self.known:  # the database skipped the rows
            kept = REPORTS.get(self.key, revision)
            if kept is not None and kept[0] == quota_key:
                return kept[1]
            # Dropped by another thread meanwhile, or made under other quotas (the plan
            # changed): read the rows after all.
            self.known, self.found = None, None
            self.read(session)
            revision = self.found[0]
        report = _report_of(self.days, self.today, self.metrics, quota_key, self._rows())
        REPORTS.put(self.key, revision, (quota_key, report))
        return report

    def _rows(self) -> dict[str, dict[date, int]]:
        rows: dict[str, dict[date, int]] = {name: {} for name in self.metrics}
        _, names, day_list, totals = self.found
        for metric, day, total in zip(names or (), day_list or (), totals or (), strict=True):
            rows[metric][day] = total
        return rows


def usage_json(session: Session, org_id: uuid.UUID, days: int = DEFAULT_RANGE, **kwargs) -> bytes:
    """``as_json(usage_report(...))`` serialised: the chart data endpoint's body."""
    return json_of(usage_report(session, org_id, days, **kwargs))


def _report_of(days, today, metrics, quota_key, rows) -> UsageReport:
    limits = {m: q for m, q in quota_key if q is not None}
    windows = {m: quotas.window(q, today)[0] for m, q in limits.items()}
    start = today - timedelta(days=days - 1)
    previous_start = start - timedelta(days=days)
    span = [start + timedelta(days=i) for i in range(days)]
    reports = [
        _metric_report(METRICS[name], rows[name], span, previous_start, today,
                       limits.get(name), windows.get(name))
        for name in metrics
    ]
    return UsageReport(days, start, today, reports)


def json_of(report: UsageReport) -> bytes:
    """As Flask's JSON responses write it (sorted keys, compact, ASCII, a final newline);
    kept with the report (a report served from the cache brings its body along)."""
    body = report.memo.get("json")
    if body is None:
        body = json.dumps(as_json(report), separators=(",", ":"), sort_keys=True) + "\n"
        body = report.memo["json"] = body.encode()
    return body


def _metric_report(metric, by_day, span, previous_start, today, quota, quota_since):
    start = span[0]
    default = None if metric.is_gauge else 0
    get = by_day.get
    # tuple.__new__ through map: 1,460 points on a 365-day report without a Python call each.
    points = list(map(partial(tuple.__new__, Point), [(day, get(day, default)) for day in span]))
    current = {d: v for d, v in by_day.items() if start <= d <= today}
    previous = {d: v for d, v in by_day.items() if previous_start <= d < start}
    in_window = {d: v for d, v in by_day.items() if quota_since and quota_since <= d <= today}
    return MetricReport(
        metric=metric,
        points=points,
        total=_figure(metric, current),
        previous=_figure(metric, previous),
        quota=quota,
        quota_used=quotas.figure(metric.name, quota, in_window) if quota else 0,
    )


def _figure(metric: Metric, by_day: dict[date, int]) -> int | None:
    if metric.per_period is Rollup.SUM:
        return sum(by_day.values())
    return max(by_day.values()) if by_day else None


def csv_rows(report: UsageReport):
    """Rows for the CSV download: one per metric and day, as in the data tables."""
    yield ["metric", "day", "value"]
    for item in report.metrics:
        for point in item.points:
            yield [item.metric.name, point.day.isoformat(),
                   "" if point.value is None else str(point.value)]


def as_json(report: UsageReport) -> dict:
    days = [p.day.isoformat() for p in report.metrics[0].points] if report.metrics else []
    return {
        "range_days": report.days,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "metrics": [
            {
                "metric": item.metric.name,
                "label": item.metric.label,
                "total": item.total,
                "previous_total": item.previous,
                "quota": None if item.quota is None else {
                    "limit": item.quota.limit, "hard": item.quota.hard,
                    "period": item.quota.period, "used": item.quota_used,
                },
                "days": [[day, p.value] for day, p in zip(days, item.points, strict=True)],
            }
            for item in report.metrics
        ],
    }
