"""The staff page that changes an org's plan and overrides: staff only, audited, validated."""

from __future__ import annotations

import uuid

import pytest

from tests import factories
from tests.helpers import csrf_token, login, post
from tests.security.test_feature_gates import snapshot


@pytest.fixture
def staff(client):
    user = factories.UserFactory()
    factories.make_staff(user)
    login(client, user)
    return user


def plan_of(org):
    return factories.execute(
        "SELECT o.plan, l.seats, l.rate_limit_per_minute FROM organizations o"
        " LEFT JOIN licenses l ON l.org_id = o.id WHERE o.id = :o", o=org.id).one()


def audit_actions(org):
    return [r[0] for r in factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o AND action LIKE 'license.%'"
        " ORDER BY at", o=org.id)]


def test_staff_see_an_orgs_plan_without_entering_it(client, staff):
    org, _ = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "growth", seats=9)
    response = client.get(f"/admin/orgs/{org.id}/plan")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert org.name in page and '<dd data-testid="seats">2 of 9</dd>' in page
    assert "Staff area" in page
    assert 'value="9"' in page  # the form starts from the current terms


def test_staff_change_the_plan_and_the_org_sees_it(app, client, staff):
    org, people = factories.org_with_members(owner="owner")
    response = post(client, f"/admin/orgs/{org.id}/plan", {
        "plan": "enterprise", "seats": "25", "rate_limit_per_minute": "8000",
        "valid_from": "", "valid_until": "2999-12-31T23:59", "reason": "order #991"})
    assert response.status_code == 303
    assert plan_of(org) == ("enterprise", 25, 8000)
    assert audit_actions(org) == ["license.change_plan"]
    owner = app.test_client()
    login(owner, people["owner"])
    page = owner.get(f"/o/{org.slug}/plan").get_data(as_text=True)
    assert '<dd data-testid="rate-limit">8,000 / min</dd>' in page
    assert 'Until <time datetime="2999-12-31">31 Dec 2999</time>' in page


def test_staff_override_then_clear(app, client, staff):
    org, people = factories.org_with_members(owner="owner")
    owner = app.test_client()
    login(owner, people["owner"])
    gated = f"/o/{org.slug}/plan/entitlements.json"
    assert owner.get(gated).status_code == 403
    assert post(client, f"/admin/orgs/{org.id}/overrides", {
        "feature": "api-access", "state": "on", "expires_at": "",
        "reason": "integration trial"}).status_code == 303
    assert owner.get(gated).status_code == 200
    assert post(client, f"/admin/orgs/{org.id}/overrides/clear", {
        "feature": "api-access", "reason": "trial over"}).status_code == 303
    assert owner.get(gated).status_code == 403
    assert audit_actions(org) == ["license.set_override", "license.clear_override"]
    # the org's own admins read the reason in their audit log
    details = factories.execute(
        "SELECT details FROM audit_events WHERE org_id = :o AND action = 'license.set_override'",
        o=org.id).scalar()
    assert details["reason"] == "integration trial"


@pytest.mark.parametrize(
    "path, data, error",
    [
        ("plan", {"plan": "platinum", "reason": "upgrade"}, "Not a valid choice"),
        ("plan", {"plan": "growth", "reason": ""}, "This field is required"),
        ("plan", {"plan": "growth", "reason": "ok!", "seats": "-1"}, "Number must be"),
        ("plan", {"plan": "growth", "reason": "ok!", "valid_from": "2030-01-01T00:00",
                  "valid_until": "2029-01-01T00:00"}, "The end must be after the start"),
        ("plan", {"plan": "growth", "reason": "ok!", "valid_until": "yesterday"},
         "Not a valid datetime value"),
        ("overrides", {"feature": "teleport", "state": "on", "reason": "why not"},
         "Not a valid choice"),
        ("overrides", {"feature": "sso", "state": "on", "reason": "late",
                       "expires_at": "2001-01-01T00:00"}, "The expiry must be in the future"),
        ("overrides", {"feature": "sso", "state": "on", "reason": "x" * 501},
         "Field must be between 3 and 500"),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(client, staff, admin_engine, path, data,
                                                       error):
    org, _ = factories.org_with_members(owner="owner")
    before = snapshot(admin_engine, org)
    response = post(client, f"/admin/orgs/{org.id}/{path}", data)
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    assert snapshot(admin_engine, org) == before


def test_missing_csrf_token_changes_nothing(client, staff):
    org, _ = factories.org_with_members(owner="owner")
    response = client.post(f"/admin/orgs/{org.id}/plan",
                           data={"plan": "enterprise", "reason": "no token"})
    assert response.status_code == 400
    assert plan_of(org)[0] == "free"


def test_unknown_org_is_a_404(client, staff):
    assert client.get(f"/admin/orgs/{uuid.uuid4()}/plan").status_code == 404
    assert post(client, f"/admin/orgs/{uuid.uuid4()}/plan",
                {"plan": "growth", "reason": "ghost org"}).status_code == 404


ADMIN_CALLS = [
    ("GET", "plan", {}),
    ("POST", "plan", {"plan": "enterprise", "reason": "self-upgrade"}),
    ("POST", "overrides", {"feature": "sso", "state": "on", "reason": "self-service"}),
    ("POST", "overrides/clear", {"feature": "sso", "reason": "self-service"}),
]


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_org_members_cannot_use_the_staff_page_even_for_their_own_org(
    client, admin_engine, role
):
    org, people = factories.org_with_members(person=role)
    factories.FeatureOverrideFactory(org_id=org.id, feature="sso", enabled=False)
    login(client, people["person"])
    before = snapshot(admin_engine, org)
    for method, path, data in ADMIN_CALLS:
        url = f"/admin/orgs/{org.id}/{path}"
        response = client.get(url) if method == "GET" else post(client, url, data)
        assert response.status_code == 404, (method, path)
    assert snapshot(admin_engine, org) == before


def test_revoking_staff_takes_effect_on_the_next_request(client, staff):
    org, _ = factories.org_with_members(owner="owner")
    assert client.get(f"/admin/orgs/{org.id}/plan").status_code == 200
    token = csrf_token(client, f"/admin/orgs/{org.id}/plan")
    factories.make_staff(staff, False)
    response = client.post(f"/admin/orgs/{org.id}/plan",
                           data={"csrf_token": token, "plan": "scale", "reason": "too late"})
    assert response.status_code == 404
    assert plan_of(org)[0] == "free"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    org, _ = factories.org_with_members(owner="owner")
    assert client.get(f"/admin/orgs/{org.id}/plan").status_code == 302
