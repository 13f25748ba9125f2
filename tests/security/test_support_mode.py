"""Support mode never leaves lasting access behind (issue 24, finding 1).

Staff in support mode see what an admin sees. Changing anything is a separate choice with
its own reason, made when entering (read-only is the default); and even with write access,
support mode never uses a permission that creates lasting access (API keys and other
credentials, invitations, role changes, SSO settings: ``GRANTS_LASTING_ACCESS`` in
dashboard/permissions.py). The rule lives in the permission layer, once; these tests walk
the URL map so a new route is checked the day it lands, and dump the org's rows as the
superuser before and after each refused request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from dashboard import tenancy
from dashboard.permissions import (
    GRANTS_LASTING_ACCESS,
    LEAVING_SUPPORT,
    SAFE_METHODS,
    SUPPORT_MAY_CHANGE,
    rule_permission,
)
from tests import factories
from tests.helpers import csrf_token, login
from tests.security import probe_registry
from tests.security.probe_registry import FORM_DATA, GENERIC_FORM, JSON_PREFIXES
from tests.security.prober import RowDump, _build, _methods

REASON = "Ticket #4711: the customer's invoices page is blank"
WRITE_REASON = "Customer asked us to remove a departed employee"


def enter(client, org, *, write_reason: str | None = None):
    token = csrf_token(client, f"/admin/orgs/{org.id}")
    data = {"csrf_token": token, "support-reason": REASON}
    if write_reason is not None:
        data |= {"support-access": "write", "support-write_reason": write_reason}
    return client.post(f"/admin/orgs/{org.id}/support", data=data)


@pytest.fixture(scope="module")
def target(app):
    """An org with every object a URL parameter can name (the prober's providers)."""
    org = probe_registry.make_probe_org("S", app)
    for rule in app.url_map.iter_rules():
        for name in rule.arguments:
            if name in probe_registry.PROVIDERS:
                probe_registry.value_for(name, org)
    return org


@pytest.fixture(scope="module")
def staff_user(app):
    user = factories.UserFactory()
    factories.make_staff(user)
    return user


def staff_in_support(app, staff_user, org, *, write_reason=None):
    client = app.test_client()
    login(client, staff_user)
    response = enter(client, org, write_reason=write_reason)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    client.csrf = csrf_token(client, f"/o/{org.slug}/")
    return client


def changing_requests(app, org) -> list[tuple]:
    """(endpoint, method, url, permission) of every state-changing route, built for ``org``."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in LEAVING_SUPPORT or rule.endpoint == "static":
            continue
        values = {name: (probe_registry.value_for(name, org)
                         if name in probe_registry.PROVIDERS else "no-such-token")
                  for name in rule.arguments}
        url = _build(rule, values)
        view = app.view_functions[rule.endpoint]
        for method in _methods(rule):
            if method not in SAFE_METHODS:
                found.append((rule.endpoint, method, url, rule_permission(view.access_rule)))
    return found


def send(client, org, endpoint, method, url):
    custom = FORM_DATA.get(endpoint, lambda a, b: {})(org, org)
    headers = {"X-CSRFToken": client.csrf}
    if url.startswith(JSON_PREFIXES):
        return client.open(url, method=method, json=custom, headers=headers)
    return client.open(url, method=method, headers=headers,
                       data={**GENERIC_FORM, **custom, "csrf_token": client.csrf})


def refused_and_unchanged(app, admin_engine, client, org, requests, *messages):
    dump = RowDump(admin_engine, org.id)
    before = dump.take()
    orgs_before = factories.execute("SELECT count(*) FROM organizations").scalar()
    problems = []
    for endpoint, method, url, _permission in requests:
        response = send(client, org, endpoint, method, url)
        body = response.get_data(as_text=True)
        if response.status_code != 403 or not any(m in body for m in messages):
            problems.append(f"{method} {url} [{endpoint}] -> {response.status_code}")
        response.close()
    after = dump.take()
    assert not problems, "not refused in support mode:\n  " + "\n  ".join(problems)
    assert before == after, "support mode changed the org's rows:\n" + RowDump.diff(before, after)
    assert factories.execute("SELECT count(*) FROM organizations").scalar() == orgs_before
    return len(requests)


def test_read_only_support_mode_refuses_every_state_changing_route(
        app, admin_engine, target, staff_user):
    client = staff_in_support(app, staff_user, target)
    requests = changing_requests(app, target)
    assert len(requests) > 40  # the walk found the app's routes
    # Refused as read-only, or (the stronger reason) as lasting access.
    refused_and_unchanged(app, admin_engine, client, target, requests, "read-only",
                          "lasting access")
    # ... while reading still works, lasting-access pages included.
    for path in ("/", "/members", "/api-keys", "/sso", "/roles", "/invitations", "/audit"):
        assert client.get(f"/o/{target.slug}{path}").status_code == 200, path


def test_write_access_never_reaches_a_route_that_grants_lasting_access(
        app, admin_engine, target, staff_user):
    client = staff_in_support(app, staff_user, target, write_reason=WRITE_REASON)
    lasting = [r for r in changing_requests(app, target) if r[3] in GRANTS_LASTING_ACCESS]
    endpoints = {r[0] for r in lasting}
    # Every kind of lasting access the app has today is among them.
    assert {"apikeys.create", "invitations.create", "members.change_role", "roles.create",
            "sso.oidc_save", "sso.domain_claim"} <= endpoints, endpoints
    refused_and_unchanged(app, admin_engine, client, target, lasting, "lasting access")


def test_write_access_refuses_what_it_does_not_list(app, admin_engine, target, staff_user):
    client = staff_in_support(app, staff_user, target, write_reason=WRITE_REASON)
    others = [r for r in changing_requests(app, target)
              if r[3] not in GRANTS_LASTING_ACCESS and r[3] not in SUPPORT_MAY_CHANGE]
    assert {"lifecycle.schedule_deletion", "lifecycle.staff_access", "orgs.create",
            "tokens.access_token"} <= {r[0] for r in others}
    refused_and_unchanged(app, admin_engine, client, target, others, "not open to support")


def test_write_access_changes_what_it_lists_and_is_audited(app, staff_user):
    org, people = factories.org_with_members(owner="owner", leaver="member")
    client = staff_in_support(app, staff_user, org, write_reason=WRITE_REASON)
    page = client.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert "write access" in page and WRITE_REASON in page
    response = client.post(f"/o/{org.slug}/members/{people['leaver'].id}/remove",
                           data={"csrf_token": client.csrf})
    assert response.status_code == 303
    assert factories.execute("SELECT count(*) FROM memberships WHERE org_id = :o",
                             o=org.id).scalar() == 1
    write = factories.execute(
        "SELECT details->>'reason' FROM audit_events WHERE org_id = :o"
        " AND action = 'staff.support.write'", o=org.id).scalar()
    assert write == WRITE_REASON


def test_read_only_is_the_default_and_says_so(app, staff_user):
    org, _ = factories.org_with_members(owner="owner")
    client = staff_in_support(app, staff_user, org)
    page = client.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert "read-only" in page
    assert factories.execute(
        "SELECT write_reason FROM support_grants WHERE org_id = :o", o=org.id).scalar() is None
    assert factories.execute(
        "SELECT count(*) FROM audit_events WHERE org_id = :o AND action = 'staff.support.write'",
        o=org.id).scalar() == 0


@pytest.mark.parametrize("write_reason", ["", "because"])
def test_write_access_needs_its_own_reason(app, staff_user, write_reason):
    org, _ = factories.org_with_members(owner="owner")
    client = app.test_client()
    login(client, staff_user)
    response = enter(client, org, write_reason=write_reason)
    assert response.status_code == 400
    assert "why you need to change" in response.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM support_grants WHERE org_id = :o",
                             o=org.id).scalar() == 0


def test_write_access_cannot_be_added_to_a_grant_later(app, staff_user, runtime_sessions):
    from sqlalchemy.exc import DBAPIError

    org, _ = factories.org_with_members(owner="owner")
    staff_in_support(app, staff_user, org)
    grant = factories.execute("SELECT id FROM support_grants WHERE org_id = :o",
                              o=org.id).scalar()
    context = tenancy.TenantContext(user_id=staff_user.id)
    with (
        pytest.raises(DBAPIError, match="chosen when entering"),
        tenancy.scoped_session(runtime_sessions, context) as session,
    ):
        session.execute(text("SELECT app_support_allow_writes(:g, :r)"),
                        {"g": grant, "r": WRITE_REASON})
    assert factories.execute("SELECT write_reason FROM support_grants WHERE id = :g",
                             g=grant).scalar() is None


@pytest.mark.parametrize("ending", ["grant expires", "owner opts out"])
def test_the_reported_attack_is_gone(app, staff_user, ending):
    """The attack run's finding: staff in support mode created an org API key, which still
    answered /api/v1/members after the grant expired and after the owner turned staff access
    off. Now the key is never made, with or without write access, nor is an access token."""
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "enterprise")
    for write_reason in (None, WRITE_REASON):
        client = staff_in_support(app, staff_user, org, write_reason=write_reason)
        created = client.post(f"/o/{org.slug}/api-keys", data={
            "csrf_token": client.csrf, "name": "support backdoor",
            "scopes": ["members:read", "members:write"]})
        assert created.status_code == 403
        assert "td_live_" not in created.get_data(as_text=True)
        token = client.post("/auth/token", headers={"X-CSRFToken": client.csrf})
        assert token.status_code == 403 and "access_token" not in token.get_json()
    assert factories.execute("SELECT count(*) FROM org_credentials WHERE org_id = :o",
                             o=org.id).scalar() == 0
    if ending == "grant expires":
        factories.execute("UPDATE support_grants SET expires_at = created_at WHERE org_id = :o",
                          o=org.id)
    else:
        factories.execute("UPDATE organizations SET staff_access_allowed = false WHERE id = :o",
                          o=org.id)
    assert client.get(f"/o/{org.slug}/").status_code == 404
    # Nothing of the staff member's is left in the org that could still answer.
    left = factories.execute(
        "SELECT (SELECT count(*) FROM org_credentials WHERE org_id = :o)"
        " + (SELECT count(*) FROM invitations WHERE org_id = :o)"
        " + (SELECT count(*) FROM memberships WHERE org_id = :o AND user_id = :s)",
        o=org.id, s=staff_user.id).scalar()
    assert left == 0


def test_every_permission_is_sorted_for_support_mode():
    """Lasting access always wins; a permission may not be both."""
    assert not GRANTS_LASTING_ACCESS & SUPPORT_MAY_CHANGE


def test_an_expired_grant_is_not_a_way_around(app, staff_user):
    org, _ = factories.org_with_members(owner="owner")
    client = staff_in_support(app, staff_user, org, write_reason=WRITE_REASON)
    factories.execute("UPDATE support_grants SET expires_at = :t WHERE org_id = :o",
                      t=datetime.now(UTC) - timedelta(minutes=1), o=org.id)
    response = client.post(f"/o/{org.slug}/api-keys", data={
        "csrf_token": client.csrf, "name": "late", "scopes": ["members:read"]})
    assert response.status_code in (403, 404)
    assert factories.execute("SELECT count(*) FROM org_credentials WHERE org_id = :o",
                             o=org.id).scalar() == 0
