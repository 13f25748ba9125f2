"""Request and response models of the JSON API (pydantic v2). The OpenAPI spec is built from
these; requests are validated against them (unknown fields refused, no type coercion in
bodies)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class _NoNul(BaseModel):
    # PostgreSQL text cannot hold NUL; refuse it here as bad input, not later as a 500.
    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Body(_NoNul):
    """A JSON request body: exact types, no unknown fields (an 'org_id' is refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(_NoNul):
    """Query-string parameters: strings converted to the declared types; unknown ones refused."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Query):
    limit: int = Field(50, ge=1, le=200, description="Items per page (1–200).")
    cursor: str | None = Field(
        None, min_length=1, max_length=1000, description="`next_cursor` of the previous page."
    )


class ErrorDetail(Output):
    code: str = Field(description="Stable, machine-readable reason, e.g. `insufficient_scope`.")
    message: str = Field(description="What went wrong, for a person.")


class Error(Output):
    error: ErrorDetail


class Org(Output):
    id: uuid.UUID
    slug: str
    name: str
    plan: str
    status: Literal["active", "suspended"]
    member_count: int
    metadata: dict[str, str] = Field(description="The org's metadata (string key/value pairs).")
