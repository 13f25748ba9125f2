"""Strict checks of a usage batch sent to the API. No Flask here.

A batch is ``{"events": [{"metric", "quantity", "timestamp", "idempotency_key"}, ...]}``;
an event may also carry ``metadata`` (string key/value pairs, dashboard/metadata/rules.py).
Any problem refuses the whole batch (nothing is stored) with a code and a message naming
the first offending field, e.g. ``events[3].quantity``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.metadata import rules as metadata_rules
from dashboard.usage.metrics import METRICS
from dashboard.usage.service import EventIn

MAX_EVENTS = 1000
MAX_KEY_LENGTH = 200
MAX_QUANTITY = 2**53 - 1  # exact in every JSON implementation
MAX_CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a timestamp may be
MAX_EVENT_AGE = timedelta(days=35)  # late events up to the previous billing month
EVENT_FIELDS = frozenset({"metric", "quantity", "timestamp", "idempotency_key"})
OPTIONAL_FIELDS = frozenset({"metadata"})


class InvalidBatch(ValueError):
    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def parse_batch(payload: Any, now: datetime) -> list[EventIn]:
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise InvalidBatch(
            "invalid_batch", 'Send a JSON object {"events": [...]} with Content-Type '
            "application/json.", 400,
        )
    unknown = set(payload) - {"events"}
    if unknown:
        raise InvalidBatch("invalid_batch", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    events = payload["events"]
    if not events:
        raise InvalidBatch("invalid_batch", "The batch has no events.")
    if len(events) > MAX_EVENTS:
        raise InvalidBatch(
            "too_many_events", f"A batch holds at most {MAX_EVENTS} events; got {len(events)}.",
            413,
        )
    parsed = [_event(i, raw, now) for i, raw in enumerate(events)]
    seen: set[str] = set()
    for i, event in enumerate(parsed):
        if event.idempotency_key in seen:
            raise InvalidBatch(
                "duplicate_idempotency_key",
                f"events[{i}].idempotency_key repeats a key earlier in the same batch.",
            )
        seen.add(event.idempotency_key)
    return parsed


def _event(i: int, raw: Any, now: datetime) -> EventIn:
    where = f"events[{i}]"
    if not isinstance(raw, dict):
        raise InvalidBatch("invalid_event", f"{where} must be an object.")
    missing = EVENT_FIELDS - set(raw)
    if missing:
        raise InvalidBatch("invalid_event", f"{where} lacks {', '.join(sorted(missing))}.")
    extra = set(raw) - EVENT_FIELDS - OPTIONAL_FIELDS
    if extra:
        raise InvalidBatch(
            "invalid_event", f"{where} has unknown field(s): {', '.join(sorted(extra))}."
        )
    metric = raw["metric"]
    if not isinstance(metric, str) or metric not in METRICS:
        raise InvalidBatch(
            "unknown_metric",
            f"{where}.metric must be one of {', '.join(METRICS)}.",
        )
    quantity = raw["quantity"]
    # bool is an int in Python; true/false are not quantities.
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise InvalidBatch("invalid_quantity", f"{where}.quantity must be an integer.")
    if not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidBatch(
            "invalid_quantity", f"{where}.quantity must be between 0 and {MAX_QUANTITY}."
        )
    key = raw["idempotency_key"]
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_KEY_LENGTH
        or not key.isprintable()
    ):
        raise InvalidBatch(
            "invalid_idempotency_key",
            f"{where}.idempotency_key must be 1–{MAX_KEY_LENGTH} printable characters.",
        )
    metadata = None
    if "metadata" in raw:
        try:
            metadata = metadata_rules.check(raw["metadata"], f"{where}.metadata") or None
        except metadata_rules.MetadataError as exc:
            raise InvalidBatch("invalid_metadata", exc.message) from None
    return EventIn(metric, quantity, _timestamp(where, raw["timestamp"], now), key, metadata)


def _timestamp(where: str, value: Any, now: datetime) -> datetime:
    message = f"{where}.timestamp must be an RFC 3339 date-time with a UTC offset."
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidBatch("invalid_timestamp", message)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidBatch("invalid_timestamp", message) from None
    if at.tzinfo is None:
        raise InvalidBatch("invalid_timestamp", message)
    at = at.astimezone(UTC)
    if at > now + MAX_CLOCK_SKEW:
        raise InvalidBatch(
            "timestamp_in_future",
            f"{where}.timestamp is more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)}"
            " minutes in the future.",
        )
    if at < now - MAX_EVENT_AGE:
        raise InvalidBatch(
            "timestamp_too_old",
            f"{where}.timestamp is older than {MAX_EVENT_AGE.days} days.",
        )
    return at
