"""Staff console and support mode: explicit, reasoned, time-limited, audited, owner-controlled."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from dashboard import tenancy
from tests import factories
from tests.helpers import csrf_token, login


@pytest.fixture
def staff(client):
    user = factories.UserFactory()
    factories.execute("UPDATE users SET is_staff = true WHERE id = :u", u=user.id)
    login(client, user)
    return user


@pytest.fixture
def customer():
    return factories.org_with_members(owner="owner", bob="member")


def enter(client, org, reason="Customer ticket #4711: invoices page is blank"):
    token = csrf_token(client, f"/admin/orgs/{org.id}")
    return client.post(f"/admin/orgs/{org.id}/support",
                       data={"csrf_token": token, "support-reason": reason})


def audit_actions(org):
    return factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o ORDER BY at", o=org.id
    ).scalars().all()


def test_non_staff_do_not_see_the_console(client, customer):
    org, people = customer
    login(client, people["owner"])
    assert client.get("/admin/").status_code == 404
    assert client.get(f"/admin/orgs/{org.id}").status_code == 404


def test_staff_find_the_console_from_every_page_and_the_empty_start(client, staff, customer):
    org, people = customer
    start = client.get("/orgs/new").get_data(as_text=True)
    assert 'data-testid="staff-console-hint"' in start and 'href="/admin/"' in start
    owner = client.application.test_client()
    login(owner, people["owner"])
    page = owner.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert "Staff console" not in page and 'href="/admin/"' not in page


def test_staff_search_orgs(client, staff, customer):
    org, _ = customer
    html = client.get(f"/admin/?q={org.slug}").get_data(as_text=True)
    assert org.name in html
    assert client.get(f"/admin/orgs/{org.id}").status_code == 200


def test_entering_without_a_reason_is_refused_and_grants_nothing(client, staff, customer):
    org, _ = customer
    for reason in ("", "because"):
        response = enter(client, org, reason)
        assert response.status_code == 400
    assert factories.execute("SELECT count(*) FROM support_grants WHERE org_id = :o",
                             o=org.id).scalar() == 0
    assert client.get(f"/o/{org.slug}/").status_code == 404


def test_support_mode_is_visible_and_every_request_is_audited(client, staff, customer):
    org, _ = customer
    response = enter(client, org)
    assert response.status_code == 303
    page = client.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert 'data-testid="support-banner"' in page and "Customer ticket #4711" in page
    client.get(f"/o/{org.slug}/audit")
    actions = audit_actions(org)
    assert "staff.support.enter" in actions and actions.count("staff.request") >= 2
    reason = factories.execute(
        "SELECT details->>'reason' FROM audit_events WHERE org_id = :o"
        " AND action = 'staff.support.enter'", o=org.id).scalar()
    assert reason.startswith("Customer ticket #4711")
    token = csrf_token(client, f"/o/{org.slug}/")
    assert client.post("/support/exit", data={"csrf_token": token}).status_code == 303
    assert "staff.support.exit" in audit_actions(org)
    assert client.get(f"/o/{org.slug}/").status_code == 404


def test_an_expired_grant_reads_zero_rows(client, staff, customer, runtime_sessions):
    org, _ = customer
    enter(client, org)
    factories.execute("UPDATE support_grants SET expires_at = created_at"
                      " WHERE org_id = :o", o=org.id)
    assert client.get(f"/o/{org.slug}/").status_code == 404
    context = tenancy.TenantContext(user_id=staff.id, org_id=org.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        assert session.scalar(text("SELECT count(*) FROM memberships")) == 0
        assert session.scalar(text("SELECT count(*) FROM audit_events")) == 0


def test_owner_opt_out_blocks_staff_at_once(client, staff, customer):
    org, _ = customer
    enter(client, org)
    assert client.get(f"/o/{org.slug}/").status_code == 200
    factories.execute("UPDATE organizations SET staff_access_allowed = false WHERE id = :o",
                      o=org.id)
    assert client.get(f"/o/{org.slug}/").status_code == 404
    token = csrf_token(client, "/admin/")
    refused = client.post(f"/admin/orgs/{org.id}/support",
                          data={"csrf_token": token, "support-reason": "Still need to look"})
    assert refused.status_code == 400
    assert "turned staff access off" in refused.get_data(as_text=True)


def test_owner_turns_staff_access_off_from_settings(client, customer):
    org, people = customer
    login(client, people["owner"])
    token = csrf_token(client, f"/o/{org.slug}/settings")
    client.post(f"/o/{org.slug}/settings/staff-access", data={"csrf_token": token})
    allowed = factories.execute("SELECT staff_access_allowed FROM organizations WHERE id = :o",
                                o=org.id).scalar()
    assert allowed is False
    assert "org.staff_access" in audit_actions(org)


def test_staff_suspend_and_reactivate_with_a_reason(client, staff, customer, app):
    org, people = customer
    member = app.test_client()
    login(member, people["bob"])
    token = csrf_token(client, f"/admin/orgs/{org.id}")
    no_reason = client.post(f"/admin/orgs/{org.id}/status",
                            data={"csrf_token": token, "action": "suspend"})
    assert no_reason.status_code == 400
    done = client.post(f"/admin/orgs/{org.id}/status",
                       data={"csrf_token": token, "action": "suspend",
                             "status-reason": "Chargeback under review"})
    assert done.status_code == 303
    assert member.get(f"/o/{org.slug}/").status_code == 403
    client.post(f"/admin/orgs/{org.id}/status",
                data={"csrf_token": token, "action": "reactivate",
                      "status-reason": "Chargeback resolved"})
    assert member.get(f"/o/{org.slug}/").status_code == 200
    assert {"org.suspend", "org.reactivate"} <= set(audit_actions(org))


def test_support_grants_cannot_be_forged_by_the_runtime_role(staff, customer, runtime_sessions):
    org, people = customer
    from sqlalchemy.exc import DBAPIError

    # A member cannot mint a grant for someone, nor can staff skip the reason.
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    with (
        pytest.raises(DBAPIError),
        tenancy.scoped_session(runtime_sessions, context) as session,
    ):
        session.execute(text(
            "INSERT INTO support_grants (org_id, staff_user_id, reason, expires_at)"
            " VALUES (:o, :s, 'sneaky reason here', now() + interval '1 hour')"),
            {"o": org.id, "s": staff.id})
    context = tenancy.TenantContext(user_id=staff.id)
    with (
        pytest.raises(DBAPIError, match="reason"),
        tenancy.scoped_session(runtime_sessions, context) as session,
    ):
        session.execute(text("SELECT * FROM app_enter_support(:o, 'short', 60)"), {"o": org.id})
    assert re.match(r".+", org.slug)
