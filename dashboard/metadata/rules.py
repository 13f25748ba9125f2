"""The one set of metadata limits and checks, for every owner (orgs, members, API keys,
usage events) and every door (partner API, JSON API, usage ingestion, forms). No Flask here.

Metadata is a flat map of string keys to string values, stored verbatim: keys of 1–40
letters, digits, ``_ . : -``; values of at most 500 characters without control characters;
at most 20 keys per object. The database repeats the key and value rules as CHECKs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

MAX_KEYS = 20
MAX_KEY_LENGTH = 40
MAX_VALUE_LENGTH = 500
KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,40}$"
VALUE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"  # no C0/C1 controls, not even tab
_KEY = re.compile(KEY_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
KEY_RULE = f"1–{MAX_KEY_LENGTH} letters, digits, '_', '.', ':' or '-'"


class MetadataError(ValueError):
    """Bad metadata; ``message`` says what, for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _shown(key: Any) -> str:
    return repr(key if not isinstance(key, str) else key[:50])


def check(value: Any, where: str = "metadata") -> dict[str, str]:
    """``value`` as a metadata map, or MetadataError naming the first problem."""
    if not isinstance(value, dict):
        raise MetadataError(f"{where} must be an object of string keys and string values.")
    if len(value) > MAX_KEYS:
        raise MetadataError(f"{where} holds at most {MAX_KEYS} keys; got {len(value)}.")
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise MetadataError(f"{where} key {_shown(key)} is not valid: use {KEY_RULE}.")
        if not isinstance(item, str):
            raise MetadataError(f"{where}.{key} must be a string.")
        if len(item) > MAX_VALUE_LENGTH:
            raise MetadataError(
                f"{where}.{key} is longer than {MAX_VALUE_LENGTH} characters ({len(item)}).")
        if _CONTROL.search(item):
            raise MetadataError(f"{where}.{key} may not contain control characters.")
    return dict(value)


# The JSON Schema of a metadata map, as strict as ``check`` (OpenAPI and partner docs).
VALUE_SCHEMA = {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": VALUE_PATTERN}
SCHEMA = {
    "type": "object",
    "maxProperties": MAX_KEYS,
    "propertyNames": {"pattern": KEY_PATTERN},
    "additionalProperties": VALUE_SCHEMA,
    "description": f"String key/value pairs stored verbatim: at most {MAX_KEYS} keys of "
    f"{KEY_RULE}; values of at most {MAX_VALUE_LENGTH} characters, no control characters.",
}

# For pydantic models: checked by ``check`` (clear messages), described by SCHEMA.
Metadata = Annotated[dict[str, str], BeforeValidator(check), WithJsonSchema(SCHEMA)]


# ---------------------------------------------------------------------------- filters

FILTER_HELP = "Filter by one metadata key: ?metadata[key]=value."
FILTER_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "propertyNames": {"pattern": KEY_PATTERN},
    "additionalProperties": VALUE_SCHEMA,
    "description": "Only items whose metadata has this key with exactly this value: "
    "`metadata[key]=value` (one key).",
}


def _check_filter(value: Any) -> dict[str, str]:
    value = check(value, "metadata filter")
    if len(value) != 1:
        raise MetadataError(FILTER_HELP)
    return value


# A query model's ``metadata`` field: ``?metadata[key]=value`` (see api/registry.py).
MetadataFilter = Annotated[dict[str, str], BeforeValidator(_check_filter),
                           WithJsonSchema(FILTER_SCHEMA)]


def filter_items(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The ``metadata[key]=value`` parameters among a query string's pairs, unchecked."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if name.startswith("metadata[") and name.endswith("]"):
            key = name[len("metadata["):-1]
            if key in found:
                raise MetadataError(f"Give metadata[{key[:50]}] at most once.")
            found[key] = value
    return found


def parse_filter(pairs: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """One exact ``(key, value)`` filter from ``?metadata[key]=value``, or None."""
    found = filter_items(pairs)
    if not found:
        return None
    if len(found) > 1:
        raise MetadataError(FILTER_HELP)
    (key, value), = found.items()
    check({key: value}, "metadata filter")
    return key, value


def parse_lines(text: str | None) -> dict[str, str]:
    """A form's ``key=value`` lines (blank lines ignored) as a checked metadata map."""
    values: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            raise MetadataError(f"Line {number}: write key=value.")
        if key in values:
            raise MetadataError(f"Line {number}: the key {_shown(key)} is given twice.")
        values[key] = value
    return check(values)


def as_lines(values: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(values.items()))
