"""Helpers for driving /api/v1/ with real keys."""

from __future__ import annotations

import pytest

from tests import factories


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def api_org(plan: str = "scale", rate_limit_per_minute: int | None = None, **roles):
    """An org on a plan that includes API access (the free plan does not)."""
    org, people = factories.org_with_members(**(roles or {"owner": "owner"}))
    factories.put_on_plan(org, plan, rate_limit_per_minute=rate_limit_per_minute)
    org.plan = plan
    return org, people


def all_scopes() -> list[str]:
    from dashboard.permissions import GRANTABLE_SCOPES

    return [s.value for s in GRANTABLE_SCOPES]


@pytest.fixture
def org_key():
    """An org with three people and a key holding every scope: (org, people, headers)."""
    org, people = api_org(owner="owner", admin="admin", bob="member")
    plaintext, _ = factories.api_key(org, all_scopes())
    return org, people, bearer(plaintext)
