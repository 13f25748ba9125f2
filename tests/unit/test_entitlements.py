"""The entitlement rules as a pure function: plan, license term, overrides, the clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.licenses.entitlements import (
    FeatureInfo,
    LicenseFacts,
    OverrideFacts,
    PlanInfo,
    Quota,
    compute,
)
from dashboard.licenses.features import Feature

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _plan(key, rate, seats, features, hard=True):
    quotas = {
        "seats": Quota("seats", seats, hard, "current"),
        "api_calls": Quota("api_calls", None if seats is None else seats * 1000, hard, "month"),
        "active_users": Quota("active_users", seats, hard, "month"),
        "storage_bytes": Quota("storage_bytes", None, False, "current"),
    }
    return PlanInfo(key, key.title(), rate, frozenset(features), quotas)


PLANS = {
    "free": _plan("free", 60, 3, []),
    "growth": _plan("growth", 500, 50, ["sso", "api-access"], hard=False),
    "enterprise": _plan("enterprise", 2000, None, [f.value for f in Feature], hard=False),
}
CATALOGUE = [FeatureInfo(f.value, f.value.title(), "") for f in Feature]


def entitlements(facts, overrides=(), now=NOW):
    return compute(uuid.uuid4(), facts, PLANS, CATALOGUE, overrides, now)


def test_no_license_row_means_the_plan_with_no_end():
    e = entitlements(LicenseFacts(plan="growth"))
    assert e.license_state == "none" and e.license_active and e.banner is None
    assert e.has("sso") and not e.has("scim")
    assert e.features["sso"].why == "Included in the Growth plan"
    assert e.features["scim"].why == "Not included in the Growth plan"
    assert e.seat_limit == 50 and e.rate_limit_per_minute == 500


def test_an_expired_license_falls_back_to_free_features_and_limits_with_a_banner():
    facts = LicenseFacts(plan="growth", has_license=True, seats=80, rate_limit_per_minute=900,
                         valid_from=NOW - 30 * 24 * HOUR, valid_until=NOW - HOUR)
    e = entitlements(facts)
    assert e.license_state == "expired" and not e.license_active
    assert e.plan == "growth" and e.effective_plan == "free"
    assert not e.has("sso")
    assert e.features["sso"].source == "license-inactive"
    assert e.seat_limit == 3 and e.rate_limit_per_minute == 60
    assert "Growth license ended" in e.banner and "data is still here" in e.banner


def test_the_license_ends_exactly_at_valid_until():
    facts = LicenseFacts(plan="growth", has_license=True, valid_from=NOW - HOUR,
                         valid_until=NOW + HOUR)
    assert entitlements(facts, now=NOW + HOUR - timedelta(microseconds=1)).has("sso")
    assert not entitlements(facts, now=NOW + HOUR).has("sso")


def test_a_license_not_yet_started_uses_the_fallback():
    facts = LicenseFacts(plan="growth", has_license=True, valid_from=NOW + HOUR)
    e = entitlements(facts)
    assert e.license_state == "pending" and not e.has("sso") and "starts on" in e.banner


def test_license_terms_override_the_plan_limits_only_while_active():
    facts = LicenseFacts(plan="enterprise", has_license=True, seats=400,
                         rate_limit_per_minute=7500, valid_from=NOW - HOUR)
    e = entitlements(facts)
    assert e.seat_limit == 400 and e.quota("seats").limit == 400
    assert e.rate_limit_per_minute == 7500
    assert e.quota("api_calls").unlimited


def test_overrides_win_until_they_expire():
    overrides = [
        OverrideFacts("scim", True, NOW + HOUR, "trial"),
        OverrideFacts("sso", False, None, "security review"),
    ]
    e = entitlements(LicenseFacts(plan="growth"), overrides)
    assert e.has("scim") and not e.has("sso")
    assert e.features["scim"].why.startswith("Turned on for your organization by Tenantdesk until")
    assert e.features["scim"].reason == "trial"
    later = entitlements(LicenseFacts(plan="growth"), overrides, now=NOW + HOUR)
    assert not later.has("scim") and later.features["scim"].source == "not-in-plan"
    assert not later.has("sso")  # no expiry: stays until cleared


def test_overrides_apply_on_top_of_an_expired_license():
    facts = LicenseFacts(plan="growth", has_license=True, valid_from=NOW - 2 * HOUR,
                         valid_until=NOW - HOUR)
    e = entitlements(facts, [OverrideFacts("sso", True, None, "grace period")])
    assert e.has("sso") and not e.has("api-access")


def test_unknown_feature_keys_are_a_bug_not_a_no():
    e = entitlements(LicenseFacts(plan="free"))
    with pytest.raises(ValueError):
        e.has("ssso")
