"""Parse and validate audit log filters from query parameters.

"From" and "To" are days in the reader's own time zone (the one every time on the page is
shown in), so an event shown as "3 Dec, 00:30" is found by filtering on 3 Dec."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dashboard import display


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def as_query(self) -> dict[str, str]:
        params = {"actor": self.actor, "action": self.action}
        if self.since:  # aware in the reader's zone: its date is the day they chose
            params["from"] = self.since.date().isoformat()
        if self.until:
            params["to"] = (self.until - timedelta(days=1)).date().isoformat()
        return {k: v for k, v in params.items() if v}


def _day(value: str, label: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise FilterError(f"{label} must be a date like 2026-01-31.") from exc


def parse(args, zone_name: str | None = None) -> AuditFilters:
    """``zone_name``: the reader's IANA time zone (UTC when unknown)."""
    actor = (args.get("actor") or "").strip()[:200]
    action = (args.get("action") or "").strip()[:100]
    start = _day(args.get("from", ""), "From")
    end = _day(args.get("to", ""), "To")
    if start and end and end < start:
        raise FilterError("'To' must not be before 'From'.")
    zone = display.zone(zone_name)
    return AuditFilters(
        actor=actor,
        action=action,
        since=datetime.combine(start, time.min, zone) if start else None,
        until=datetime.combine(end + timedelta(days=1), time.min, zone) if end else None,
    )
