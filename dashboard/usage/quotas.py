"""Quotas come from the org's plan (dashboard.licenses). No Flask here.

``plan_quotas(session)`` reads the current org's entitlements (one query, cached by the
licenses area for the transaction) and keeps the metered, limited ones. Each quota counts over
a period named by the plan:

- ``month``: the calendar month (UTC). API calls add up; active users count the peak day
  (daily active users are what the rollups know; a monthly distinct count would need the raw
  events of the whole month).
- ``day``: the UTC day.
- ``current``: the latest reading (levels such as storage and seats), looking back 31 days.

Hard quotas are enforced on flows (API calls): the call or batch that would go past the limit
is refused with 429 and stores nothing. Levels (seats, storage) and daily active users are
facts about the org that refusing a report would not undo, so they are always recorded; past
a limit the page and the API response say so, and the feature that creates the usage (e.g.
invitations for seats) enforces it. At 80 % of any quota a banner shows and the org's admins
get one e-mail per period.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from sqlalchemy.orm import Session

from dashboard.licenses import service as licenses
from dashboard.licenses.entitlements import Quota
from dashboard.usage.metrics import METRICS, Rollup

WARN_AT_PERCENT = 80
CURRENT_LOOKBACK_DAYS = 31

__all__ = ["Quota", "WARN_AT_PERCENT", "plan_quotas", "window", "figure", "enforced"]


def plan_quotas(session: Session) -> dict[str, Quota]:
    """The current org's limited quotas by metric name (unlimited ones are left out)."""
    return {
        metric: quota
        for metric, quota in licenses.entitlements(session).quotas.items()
        if metric in METRICS and quota.limit is not None
    }


def window(quota: Quota, today: date) -> tuple[date, date]:
    """First and last day whose rollups make up the quota's figure on ``today``."""
    if quota.period == "day":
        return today, today
    if quota.period == "current":
        return today - timedelta(days=CURRENT_LOOKBACK_DAYS), today
    last = calendar.monthrange(today.year, today.month)[1]
    return today.replace(day=1), today.replace(day=last)


def earliest_window_start(today: date) -> date:
    """The earliest first day ``window`` gives on ``today``, whatever the period."""
    return min(today.replace(day=1), today - timedelta(days=CURRENT_LOOKBACK_DAYS))


def alert_period(quota: Quota, today: date) -> date:
    """The period an 80 % e-mail is sent once for (levels: once a month at most)."""
    return today if quota.period == "day" else today.replace(day=1)


def figure(metric: str, quota: Quota, by_day: dict[date, int]) -> int:
    """The quota's figure from the day rollups inside its window."""
    if not by_day:
        return 0
    if quota.period == "current":
        return by_day[max(by_day)]
    if quota.period == "month" and METRICS[metric].per_period is Rollup.SUM:
        return sum(by_day.values())
    return max(by_day.values())


def enforced(metric: str, quota: Quota) -> bool:
    """Whether going past the quota refuses the usage (see the module docstring)."""
    return quota.hard and METRICS[metric].per_period is Rollup.SUM


def resets_on(quota: Quota, today: date) -> date | None:
    if quota.period == "current":
        return None
    return window(quota, today)[1] + timedelta(days=1)


def period_words(quota: Quota) -> str:
    return {"day": "per day", "month": "per month"}.get(quota.period, "at a time")
