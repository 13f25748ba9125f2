"""Current use per metric for the licenses area's "Plan & features" page. No Flask here.

Each figure is counted over the period of the plan's quota for that metric (limited or not),
all metrics in one query, at most once per transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.licenses import service as licenses
from dashboard.usage import quotas
from dashboard.usage.metrics import METRICS

_CACHE_KEY = "usage.plan_usage"
_SQL = text(
    """
    SELECT metric, day, total FROM usage_daily
     WHERE org_id = :org_id AND metric = ANY(CAST(:metrics AS text[]))
       AND day BETWEEN :since AND :until
    """
)


def period_usage(session: Session, today: date | None = None) -> dict[str, int]:
    cached = session.info.get(_CACHE_KEY)
    transaction = session.get_transaction()
    if cached and transaction is not None and cached[0] is transaction:
        return cached[1]
    today = today or datetime.now(UTC).date()
    org_id = tenancy.context_of(session).org_id
    plan = {m: q for m, q in licenses.entitlements(session).quotas.items() if m in METRICS}
    windows = {m: quotas.window(q, today) for m, q in plan.items()}
    by_day: dict[str, dict[date, int]] = {m: {} for m in plan}
    if windows:
        for metric, day, total in session.execute(
            _SQL, {"org_id": org_id, "metrics": list(windows),
                   "since": min(w[0] for w in windows.values()), "until": today},
        ):
            if windows[metric][0] <= day:
                by_day[metric][day] = total
    figures = {m: quotas.figure(m, plan[m], by_day[m]) for m in plan}
    session.info[_CACHE_KEY] = (session.get_transaction(), figures)
    return figures


def register() -> None:
    """Feed the plan page. Seats stay counted from memberships by the licenses area."""
    for metric in METRICS:
        if metric != "seats":
            licenses.register_usage_reader(
                metric, lambda session, m=metric: period_usage(session).get(m)
            )
