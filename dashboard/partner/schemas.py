"""Partner API request bodies (pydantic: strict types, unknown fields refused)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from dashboard.metadata.rules import Metadata

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$", max_length=40)
]
PlanKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")]
EXTERNAL_ID = r"^[A-Za-z0-9._:-]{1,100}$"
MAX_SETTINGS_BYTES = 8192


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProvisionRequest(_Strict):
    name: Name
    slug: Slug
    plan: PlanKey = "free"
    owner_email: EmailStr
    settings: dict = Field(default_factory=dict)
    metadata: Metadata = Field(default_factory=dict)

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
    metadata: Metadata | None = None  # replaces the whole map
