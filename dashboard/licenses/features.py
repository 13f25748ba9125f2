"""The vocabulary of plans: feature keys and metered quantities.

Mirrors the seeded ``features`` table and the ``plan_quotas.metric`` check in migration
0002_plans (a test keeps them equal). Import these instead of spelling keys as strings.
"""

from __future__ import annotations

from enum import StrEnum


class Feature(StrEnum):
    SSO = "sso"
    SCIM = "scim"
    AUDIT_EXPORT = "audit-export"
    ADVANCED_ANALYTICS = "advanced-analytics"
    CUSTOM_ROLES = "custom-roles"
    API_ACCESS = "api-access"
    WEBHOOKS = "webhooks"
    AUDIT_STREAMING = "audit-streaming"
    BRANDING = "branding"  # logo, colour, name on the org's pages and mails (dashboard/hosts)
    WHITE_LABEL = "white-label"  # no "Tenantdesk" on the org's pages and mails


class Metric(StrEnum):
    API_CALLS = "api_calls"
    ACTIVE_USERS = "active_users"
    SEATS = "seats"
    STORAGE_BYTES = "storage_bytes"


METRIC_LABELS = {
    Metric.API_CALLS: "API calls",
    Metric.ACTIVE_USERS: "Active users",
    Metric.SEATS: "Seats",
    Metric.STORAGE_BYTES: "Storage",
}

# The plan every org falls back to while its license is expired or not yet valid.
FALLBACK_PLAN = "free"
