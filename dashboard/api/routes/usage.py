"""Usage through the API: the usage area's ingestion route (documented here, validated and
recorded by dashboard/usage/) and its daily series (read by usage's reports service)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

from dashboard import tenancy
from dashboard.api.auth import current_principal
from dashboard.api.registry import document, operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Body, Output, Query
from dashboard.metadata.rules import Metadata, MetadataFilter
from dashboard.permissions import ApiScope, Permission
from dashboard.usage import reports, validation
from dashboard.usage.metrics import METRICS

MetricName = Literal[tuple(METRICS)]  # type: ignore[valid-type]


# ---------------------------------------------------------------------------- ingestion


class UsageEventIn(Body):
    metric: MetricName
    quantity: int = Field(ge=0, le=validation.MAX_QUANTITY)
    timestamp: AwareDatetime = Field(
        description=f"RFC 3339 with offset; at most {validation.MAX_CLOCK_SKEW} ahead and "
        f"{validation.MAX_EVENT_AGE.days} days old."
    )
    idempotency_key: str = Field(
        min_length=1, max_length=validation.MAX_KEY_LENGTH,
        description="A retry with the same key counts once.",
    )
    # Optional; absent and {} both mean none (null is refused).
    metadata: Metadata = Field(default_factory=dict)


class UsageBatchIn(Body):
    events: list[UsageEventIn] = Field(min_length=1, max_length=validation.MAX_EVENTS)


class QuotaWarning(Output):
    metric: str
    limit: int | None
    used: int
    hard: bool
    period: str
    percent: float
    exceeded: bool


class UsageBatchResult(Output):
    accepted: int
    duplicates: int
    quota_warnings: list[QuotaWarning]


document(
    "usage.ingest", "POST", "/usage/events",
    summary="Send a batch of usage events", tag="Usage", scope=ApiScope.USAGE_WRITE,
    permission=Permission.USAGE_REPORT, body=UsageBatchIn, response=UsageBatchResult,
    errors=(400, 413, 422, 429),
    description="All or nothing: one invalid event refuses the batch and nothing is stored. "
    "Events are recorded for the credential's org only. Past a hard monthly quota: 429 "
    "`quota_exceeded`.",
)


# ---------------------------------------------------------------------------- series


class SeriesQuery(Query):
    range: int = Field(
        reports.DEFAULT_RANGE, json_schema_extra={"enum": list(reports.RANGES)},
        description="Days, ending today (UTC).",
    )
    metric: MetricName | None = Field(None, description="One metric; all when absent.")
    metadata: MetadataFilter | None = None

    @field_validator("range")
    @classmethod
    def _known_range(cls, value: int) -> int:
        if value not in reports.RANGES:
            raise ValueError(f"use one of {', '.join(map(str, reports.RANGES))}")
        return value


class UsageQuota(Output):
    limit: int | None
    hard: bool
    period: str
    used: int


class MetricSeries(Output):
    metric: str
    label: str
    total: int | None
    previous_total: int | None
    quota: UsageQuota | None
    days: list[tuple[date, int | None]] = Field(description="[day, value], oldest first.")


class UsageSeries(Output):
    range_days: int
    start: date
    end: date
    metrics: list[MetricSeries]


@operation(bp, "GET", "/usage/series", summary="Daily usage series", tag="Usage",
           scope=ApiScope.USAGE_READ, query=SeriesQuery, response=UsageSeries)
def usage_series(query: SeriesQuery):
    """One value per day and metric (sums for API calls, daily peaks for levels), the
    range's total, the previous range's, and the current month's quota use. With
    `metadata[key]=value`, only the events sent with that metadata value count (and
    `quota` is null: quotas count the whole org)."""
    principal = current_principal()
    report = reports.usage_report(
        tenancy.request_session(), principal.org_id, query.range,
        metrics=(query.metric,) if query.metric else tuple(METRICS),
        metadata=next(iter(query.metadata.items())) if query.metadata else None,
    )
    return UsageSeries.model_validate(reports.as_json(report))
