"""The built-in metrics and how each one rolls up.

Two rules per metric:

- ``per_day``: how events of one UTC day combine into the day's figure. ``sum`` for counters
  (API calls; active users, where each user reports once a day under a per-user, per-day
  idempotency key, so the sum is the number of distinct active users), ``max`` for reported
  gauges (seats, storage bytes): the day's figure is the highest reading of that day. A peak
  is order-independent, so late, retried or concurrent readings give the same result.
- ``per_period``: how days combine into a period's figure (chart totals, quotas). ``sum`` for
  API calls; ``max`` (the peak day) for everything that is a level rather than a flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Rollup(StrEnum):
    SUM = "sum"
    MAX = "max"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str  # "count" or "bytes": how figures are formatted
    per_day: Rollup
    per_period: Rollup
    description: str

    @property
    def is_gauge(self) -> bool:
        return self.per_day is Rollup.MAX


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("api_calls", "API calls", "count", Rollup.SUM, Rollup.SUM,
               "Requests to the organization's API."),
        Metric("active_users", "Active users", "count", Rollup.SUM, Rollup.MAX,
               "People who used the product on a day (each counted once a day)."),
        Metric("seats", "Seats", "count", Rollup.MAX, Rollup.MAX,
               "Seats in use, as reported (highest reading of each day)."),
        Metric("storage_bytes", "Storage", "bytes", Rollup.MAX, Rollup.MAX,
               "Storage used, as reported (highest reading of each day)."),
    )
}

GAUGES = tuple(name for name, m in METRICS.items() if m.is_gauge)
# Shown as sparklines on the org home page.
HOME_METRICS = ("api_calls", "active_users")


def format_value(metric: Metric, value: int | None) -> str:
    if value is None:
        return "—"
    if metric.unit == "bytes":
        return format_bytes(value)
    return f"{value:,}"


def format_bytes(value: int) -> str:
    """Binary units, as the plan page shows storage quotas (100 GiB)."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
