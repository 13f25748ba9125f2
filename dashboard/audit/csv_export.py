"""CSV rendering of audit events (streamed; formula injection neutralised)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from dashboard.models import AuditEvent

HEADER = ["time", "actor", "action", "target", "ip", "user_agent", "details"]


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet apps execute cells starting with these; prefix a quote so they stay text.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def rows(events: Iterable[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for event in events:
        writer.writerow(
            [
                _cell(event.at.isoformat()),
                _cell(event.actor),
                _cell(event.action),
                _cell(event.target),
                _cell(event.ip),
                _cell(event.user_agent),
                _cell(json.dumps(event.details, sort_keys=True, default=str)),
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
    yield buffer.getvalue()
