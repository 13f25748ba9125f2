"""Request and response models of the JSON API (pydantic v2). The OpenAPI spec is built from
these; requests are validated against them (unknown fields refused, no type coercion in
bodies)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Body(BaseModel):
    """A JSON request body: exact types, no unknown fields (an 'org_id' is refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
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
