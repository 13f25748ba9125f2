"""Partner API request bodies (pydantic: strict types, unknown fields refused)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$", max_length=40)
]
PlanKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")]
EXTERNAL_ID = r"^[A-Za-z0-9._:-]{1,100}$"
MAX_SETTINGS_BYTES = 8192


METADATA_KEY = r"^[A-Za-z0-9_.:-]{1,40}$"
MAX_METADATA_KEYS = 20
MAX_METADATA_VALUE = 500


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    """String keys and values, stored verbatim: limits, no control characters."""
    import re

    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys")
    for key, item in value.items():
        if not re.fullmatch(METADATA_KEY, key):
            raise ValueError("metadata keys: 1–40 letters, digits, '_', '.', ':' or '-'")
        if len(item) > MAX_METADATA_VALUE:
            raise ValueError(f"metadata values: at most {MAX_METADATA_VALUE} characters")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in item):
            raise ValueError("metadata values may not contain control characters")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProvisionRequest(_Strict):
    name: Name
    slug: Slug
    plan: PlanKey = "free"
    owner_email: EmailStr
    settings: dict = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_metadata(value)

    @field_validator("settings")
    @classmethod
    def _small_settings(cls, value: dict) -> dict:
        if len(json.dumps(value)) > MAX_SETTINGS_BYTES:
            raise ValueError(f"settings must be at most {MAX_SETTINGS_BYTES} bytes of JSON")
        return value


class UpdateRequest(_Strict):
    name: Name | None = None
    plan: PlanKey | None = None
    active: bool | None = None
    metadata: dict[str, str] | None = None  # replaces the whole map

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_metadata(value)
