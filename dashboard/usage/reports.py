"""Reading usage for charts, tables, CSV and JSON: from the daily rollups. No Flask.

A report costs one query whatever the range (plus the org's entitlements, which every org page
already reads once per transaction): the rollup rows of the range, the previous range (for
"change vs previous period") and the quota windows, read from the covering index
usage_daily_chart (org_id, metric, day) INCLUDE (total). The same statement reads the org's
rollup revision under RLS; a report built from the same revision is kept per worker
(cache.py) and served without the rows. Raw events are read only for a report filtered by a
metadata value (rollups do not know metadata; such reports are never kept): the events that
carry it, found through the metadata index (org_id, key, value, event_id), summed per day by
the same rule as the rollups.
"""

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

from dashboard.licenses import enforcement
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
    from dashboard.licenses import service

    if service.has_feature(session, Feature.ADVANCED_ANALYTICS):
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


# The org's rollup revision (first row, metric NULL; NULL when the gate lets nothing
# through) and, unless it is the revision the cache already holds (:known), one row per
# metric with its days and totals as arrays: a few rows, not 2,920. One statement, one
# snapshot: the rows are those of the revision returned. The covering index
# usage_daily_chart (0039) makes the rows an index-only scan.
_ROLLUPS_SQL = text(
    """
    WITH rev AS MATERIALIZED (
      SELECT revision FROM usage_revisions WHERE org_id = :org_id)
    SELECT (SELECT revision FROM rev) AS revision, NULL AS metric,
           NULL::date[] AS days, NULL::bigint[] AS totals
    UNION ALL
    SELECT NULL, metric, array_agg(day ORDER BY day), array_agg(total ORDER BY day)
      FROM usage_daily
     WHERE org_id = :org_id AND metric = ANY(CAST(:metrics AS text[]))
       AND day BETWEEN :since AND :until
       AND NOT coalesce((SELECT revision FROM rev) = CAST(:known AS bigint), false)
     GROUP BY metric
    """
)  # no .columns(): the tier router reads table names from a plain text() only


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
) -> UsageReport:
    """The org's usage; with ``metadata`` (key, value), only events tagged with it, and no
    quota (quotas count the whole org)."""
    if days not in RANGES:
        raise ValueError(f"range must be one of {RANGES}")
    if days > BASIC_HISTORY_DAYS:
        enforcement.require(session, LONG_HISTORY.feature)
    today = today or today_utc()
    start = today - timedelta(days=days - 1)
    previous_start = start - timedelta(days=days)
    limits = quotas.plan_quotas(session) if metadata is None else {}
    windows = {m: quotas.window(q, today)[0] for m, q in limits.items() if m in metrics}
    rows: dict[str, dict[date, int]] = {name: {} for name in metrics}
    since = min([previous_start, *windows.values()])
    quota_key = tuple((m, limits.get(m)) for m in metrics)
    if metadata is not None:
        rows.update(tagged_days(session, org_id, metadata, metrics, since, today))
        return _report_of(days, today, tuple(metrics), quota_key, rows)
    key = (org_id, days, today, tuple(metrics), quota_key)
    known = REPORTS.revision_of(key)
    revision = _read_rollups(session, org_id, metrics, since, today, known, rows)
    if revision is not None and revision == known:  # the database skipped the rows
        kept = REPORTS.get(key, revision)
        if kept is not None:
            return kept
        # Dropped by another thread meanwhile: read the rows after all.
        revision = _read_rollups(session, org_id, metrics, since, today, None, rows)
    report = _report_of(days, today, tuple(metrics), quota_key, rows)
    REPORTS.put(key, revision, report)
    return report


def _read_rollups(session, org_id, metrics, since, until, known, rows) -> int | None:
    """Fill ``rows`` unless the org's revision is ``known``; return the revision (None:
    nothing readable, e.g. no longer a member)."""
    revision = None
    for found, metric, day_list, totals in session.execute(_ROLLUPS_SQL, {
        "org_id": org_id, "metrics": list(metrics), "since": since, "until": until,
        "known": known,
    }):
        if metric is None:
            revision = found
        else:
            rows[metric] = dict(zip(day_list, totals, strict=True))
    return revision


def usage_json(session: Session, org_id: uuid.UUID, days: int = DEFAULT_RANGE, **kwargs) -> bytes:
    """``as_json(usage_report(...))`` serialised: the chart data endpoint's body."""
    return _json_of(usage_report(session, org_id, days, **kwargs))


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


def _json_of(report: UsageReport) -> bytes:
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
