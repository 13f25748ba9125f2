"""A fresh request id is what ``uuid.uuid4().hex`` gives: 32 hex digits of a version-4 UUID
(issue 20, session 10: made without the UUID object)."""

from __future__ import annotations

import uuid

from dashboard.ops import logs


def test_fresh_request_ids_are_uuid4_hex_and_distinct():
    seen = set()
    for _ in range(5000):
        value = logs.new_request_id()
        parsed = uuid.UUID(hex=value)
        assert value == parsed.hex and len(value) == 32
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(value)
    assert len(seen) == 5000
