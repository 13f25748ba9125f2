"""Quotas come from the org's plan. No Flask here.

``plan_quotas(session)`` is the one hook the rest of usage asks. Until the licenses module
exposes plans, the limits below stand in for them, keyed by ``organizations.plan`` (read under
the RLS context, so it is always the current org's plan).

A quota applies per calendar month (UTC). ``hard`` quotas refuse usage past the limit (the
metered API answers 429); soft ones only warn (banner, e-mail at 80 %).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.models import Organization

WARN_AT_PERCENT = 80


@dataclass(frozen=True)
class Quota:
    limit: int
    hard: bool = True


GB = 1000**3

# Stand-in plan limits (see module docstring). Metrics not listed are unlimited.
FALLBACK_PLAN_QUOTAS: dict[str, dict[str, Quota]] = {
    "free": {
        "api_calls": Quota(10_000),
        "active_users": Quota(10, hard=False),
        "seats": Quota(5, hard=False),
        "storage_bytes": Quota(1 * GB),
    },
    "pro": {
        "api_calls": Quota(1_000_000, hard=False),
        "active_users": Quota(250, hard=False),
        "seats": Quota(50, hard=False),
        "storage_bytes": Quota(100 * GB),
    },
    "enterprise": {},
}


def plan_quotas(session: Session, plan: str | None = None) -> dict[str, Quota]:
    """The current org's quotas by metric name (missing = unlimited).

    ``plan``: the org's plan when the caller already knows it (saves a query).
    """
    if plan is None:
        plan = session.scalar(select(Organization.plan))
    return dict(FALLBACK_PLAN_QUOTAS.get(plan or "", {}))


def period_of(day: date) -> tuple[date, date]:
    """First and last day of the quota period (calendar month) holding ``day``."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)
