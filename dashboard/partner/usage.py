"""A provider's read of one org's usage for billing (also while the org is suspended)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.partner.service import PartnerError
from dashboard.usage import reports
from dashboard.usage.metrics import METRICS, Rollup

MAX_DAYS = 400


def parse_range(starting_on: str | None, ending_before: str | None) -> tuple[date, date]:
    """Both dates, or neither (then: the current UTC month up to and including today)."""
    if not starting_on and not ending_before:
        today = datetime.now(UTC).date()
        return today.replace(day=1), today + timedelta(days=1)
    try:
        start = date.fromisoformat(starting_on or "")
        end = date.fromisoformat(ending_before or "")
    except ValueError as exc:
        raise PartnerError(
            400, "bad_range", "starting_on and ending_before must be dates like 2026-01-31."
        ) from exc
    if end <= start:
        raise PartnerError(400, "bad_range", "ending_before must be after starting_on.")
    if (end - start).days > MAX_DAYS:
        raise PartnerError(400, "bad_range", f"Ask for at most {MAX_DAYS} days at a time.")
    return start, end


def usage_between(session: Session, start: date, end: date, *,
                  org_id: uuid.UUID | None = None,
                  metadata: tuple[str, str] | None = None) -> dict:
    """Per metric: daily figures and the period figure, from the org's daily rollups (RLS);
    with ``metadata`` (key, value), from the org's events tagged with it."""
    if metadata is not None and org_id is not None:
        tagged = reports.tagged_days(session, org_id, metadata, tuple(METRICS), start,
                                     end - timedelta(days=1))
        rows = [(m, d, t) for m in METRICS for d, t in sorted(tagged[m].items())]
    else:
        rows = session.execute(
            text("SELECT metric, day, total FROM usage_daily"
                 " WHERE day >= :start AND day < :end ORDER BY metric, day"),
            {"start": start, "end": end},
        )
    days: dict[str, list[dict]] = {name: [] for name in METRICS}
    for metric, day, total in rows:
        if metric in days:
            days[metric].append({"day": day.isoformat(), "value": total})
    result = {}
    for name, metric in METRICS.items():
        values = [d["value"] for d in days[name]]
        figure = sum(values) if metric.per_period is Rollup.SUM else max(values, default=0)
        result[name] = {"period_total": figure, "rollup": metric.per_period.value,
                        "days": days[name]}
    return result
