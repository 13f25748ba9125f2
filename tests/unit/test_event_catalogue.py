"""The event catalogue as data, the retry schedule, and the signing scheme."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from standardwebhooks import Webhook

from dashboard.events import catalogue, deliveries, endpoints
from dashboard.events.catalogue import CATALOGUE, EventType, types_for

ISSUE_GROUPS = {"organization", "membership", "invitation", "role", "sso_connection", "domain",
                "scim", "api_key", "plan", "license", "usage"}


def test_every_type_has_one_spec_in_a_known_group():
    assert set(CATALOGUE) == set(EventType)
    assert {t.value.split(".")[0] for t in EventType} == ISSUE_GROUPS
    assert all(spec.version >= 1 and spec.description for spec in CATALOGUE.values())


def test_audit_actions_map_to_event_types():
    assert types_for("member.role_change") == (EventType.MEMBERSHIP_ROLE_CHANGED,)
    assert set(types_for("invitation.accept")) == {EventType.MEMBERSHIP_CREATED,
                                                   EventType.INVITATION_ACCEPTED}
    assert types_for("auth.logout") == ()  # not every audit action is an event
    assert types_for("license.change_plan") == (EventType.PLAN_CHANGED,)


def test_payload_is_deterministic_and_versioned():
    row = SimpleNamespace(id="00000000-0000-0000-0000-000000000001", org_id="org",
                          at=datetime(2026, 1, 1, tzinfo=UTC), action="member.remove",
                          actor="a@example.com", target="user:b@example.com",
                          details={"before": {"role": "member"}})
    body = catalogue.payload("membership.removed", row)
    assert body == catalogue.payload("membership.removed", row)
    assert body["version"] == 1 and body["type"] == "membership.removed"
    assert body["id"].endswith("_membership.removed")


def test_retries_span_about_three_days_with_jitter():
    total = sum(deliveries.RETRY_DELAYS)
    assert timedelta(days=2.5) < timedelta(seconds=total) < timedelta(days=3.2)
    assert list(deliveries.RETRY_DELAYS) == sorted(deliveries.RETRY_DELAYS)
    rng = random.Random(7)
    delays = [deliveries.retry_delay(1, rng=rng) for _ in range(200)]
    assert min(delays) >= 4.0 and max(delays) <= 6.0 and len(set(delays)) > 100
    assert deliveries.retry_delay(deliveries.MAX_ATTEMPTS) is None


def test_signatures_verify_with_the_standardwebhooks_library():
    key = "test-secret-key"
    current, previous = endpoints.new_secret(), endpoints.new_secret()
    destination = SimpleNamespace(
        secret_sealed=endpoints.seal(key, current),
        previous_secret_sealed=endpoints.seal(key, previous),
        previous_secret_until=datetime.now(UTC) + timedelta(hours=1))
    body = b'{"type":"role.created"}'
    headers = deliveries.sign(destination, "evt_1_role.created", body, key, datetime.now(UTC))
    assert Webhook(current).verify(body, headers) == {"type": "role.created"}
    assert Webhook(previous).verify(body, headers) == {"type": "role.created"}
    destination.previous_secret_until = datetime.now(UTC) - timedelta(seconds=1)
    headers = deliveries.sign(destination, "evt_1_role.created", body, key, datetime.now(UTC))
    assert len(headers["webhook-signature"].split(" ")) == 1
