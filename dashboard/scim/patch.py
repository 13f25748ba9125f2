"""Limits checked before a write reaches scim2-server. No Flask.

A group's members travel in one request (POST, PUT) or as PATCH values; more than
``MAX_MEMBERS_PER_REQUEST`` member values in one request are refused with 413 before
anything is read or written (an IdP sends large groups in batches: Entra ID sends at most
1,000 members per PATCH).
"""

from __future__ import annotations

import json

MAX_MEMBERS_PER_REQUEST = 1000


def member_values_in(body: bytes) -> int:
    """How many group member values a request body carries (0 if it is not JSON)."""
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return 0  # scim2-server answers malformed JSON itself
    if not isinstance(payload, dict):
        return 0
    count = _count(payload.get("members"))
    for operation in payload.get("Operations") or []:
        if not isinstance(operation, dict):
            continue
        path = str(operation.get("path") or "").lower()
        value = operation.get("value")
        if path.startswith("members"):
            count += _count(value) or 1
        elif isinstance(value, dict):
            count += _count(value.get("members"))
    return count


def _count(value) -> int:
    return len(value) if isinstance(value, list) else 0


def too_many_members(body: bytes) -> bool:
    return member_values_in(body) > MAX_MEMBERS_PER_REQUEST
