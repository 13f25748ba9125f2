"""Issue 21's dead ends for owners: the sole owner's leave page offers a way out, and an
owner hands the org to another member (step-up, audited, emitted as membership events)."""

from __future__ import annotations

from dashboard.events.catalogue import EventType, types_for
from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.helpers import csrf_token, login, post
from tests.support.events import make_endpoint


def roles_of(org) -> dict:
    rows = factories.execute("SELECT user_id, role FROM memberships WHERE org_id = :o",
                             o=org.id).all()
    return {user_id: role for user_id, role in rows}


def audit_rows(org, action):
    return factories.execute(
        "SELECT target, details FROM audit_events WHERE org_id = :o AND action = :a"
        " ORDER BY at, id", o=org.id, a=action).all()


def make_stale(user):
    factories.execute("UPDATE user_sessions SET reauth_at = now() - interval '11 minutes'"
                      " WHERE user_id = :u", u=user.id)


def test_the_sole_owner_is_offered_transfer_or_deletion_not_a_bare_409(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    page = client.get(f"/o/{org.slug}/leave").get_data(as_text=True)
    assert 'data-testid="sole-owner"' in page
    assert f'href="/o/{org.slug}/ownership"' in page
    assert f'href="/o/{org.slug}/settings#deletion"' in page
    refused = post(client, f"/o/{org.slug}/leave")  # a stale form posted anyway
    assert refused.status_code == 409
    assert "Transfer ownership" in refused.get_data(as_text=True)
    assert roles_of(org)[people["owner"].id] == "owner"


def test_a_member_or_a_co_owner_just_leaves(client):
    org, people = factories.org_with_members(owner="owner", other="owner", bob="member")
    for who in ("bob", "other"):
        login(client, people[who])
        page = client.get(f"/o/{org.slug}/leave").get_data(as_text=True)
        assert 'data-testid="sole-owner"' not in page
        assert post(client, f"/o/{org.slug}/leave").status_code == 303
    assert roles_of(org) == {people["owner"].id: "owner"}


def test_transfer_makes_the_member_owner_and_the_owner_admin(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "growth")
    login(client, people["owner"])
    make_endpoint(client, org, "http://127.0.0.1:9/hook")  # so the outbox records events
    page = client.get(f"/o/{org.slug}/ownership").get_data(as_text=True)
    assert people["bob"].email in page and people["owner"].email not in page.split(
        'name="new_owner"')[1].split("</select>")[0]
    response = post(client, f"/o/{org.slug}/ownership",
                    {"new_owner": str(people["bob"].id), "then": "stay"})
    assert response.status_code == 303
    assert roles_of(org) == {people["owner"].id: "admin", people["bob"].id: "owner"}
    changes = audit_rows(org, "member.role_change")
    assert [(t, d["after"]["role"]) for t, d in changes] == [
        (f"user:{people['bob'].email}", "owner"), (f"user:{people['owner'].email}", "admin")]
    assert all(d["after"]["via"] == "ownership transfer" for _, d in changes)
    # the audit rows feed the outbox: the same events as a hand-made role change
    queued = factories.execute(
        "SELECT a.action FROM event_outbox o JOIN audit_events a ON a.org_id = o.org_id"
        " AND a.id = o.audit_event_id WHERE o.org_id = :o ORDER BY o.seq", o=org.id,
    ).scalars().all()
    assert queued[-2:] == ["member.role_change", "member.role_change"]
    assert types_for("member.role_change") == (EventType.MEMBERSHIP_ROLE_CHANGED,)
    # the former owner is an admin now: no second transfer
    assert client.get(f"/o/{org.slug}/ownership").status_code == 403


def test_transfer_and_leave(client):
    org, people = factories.org_with_members(owner="owner", bob="admin")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/ownership",
                    {"new_owner": str(people["bob"].id), "then": "leave"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/switcher")
    assert roles_of(org) == {people["bob"].id: "owner"}
    assert audit_rows(org, "member.leave")[0][1]["after"]["via"] == "ownership transfer"


def test_transfer_asks_again_for_a_stale_session_and_changes_nothing(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    token = csrf_token(client, f"/o/{org.slug}/ownership")
    make_stale(people["owner"])
    form = {"csrf_token": token, "new_owner": str(people["bob"].id), "then": "stay"}
    refused = client.post(f"/o/{org.slug}/ownership", data=form)
    assert refused.status_code == 403 and "Confirm it" in refused.get_data(as_text=True)
    assert roles_of(org)[people["bob"].id] == "member"
    assert client.post("/account/confirm", data={"csrf_token": token,
                                                 "password": TEST_PASSWORD}).status_code == 303
    assert client.post(f"/o/{org.slug}/ownership", data=form).status_code == 303
    assert roles_of(org)[people["bob"].id] == "owner"


def test_bad_transfers_are_refused_and_change_nothing(app, client):
    org, people = factories.org_with_members(owner="owner", adam="admin", bob="member")
    other, strangers = factories.org_with_members(owner="owner")
    before = roles_of(org)
    login(client, people["owner"])
    for data in ({"new_owner": str(strangers["owner"].id), "then": "stay"},  # another org's
                 {"new_owner": str(people["owner"].id), "then": "stay"},  # yourself
                 {"new_owner": "not-a-uuid", "then": "stay"},
                 {"new_owner": str(people["bob"].id), "then": "vanish"},
                 {}):
        response = post(client, f"/o/{org.slug}/ownership", data)
        assert response.status_code == 400, data
    admin = app.test_client()
    login(admin, people["adam"])
    assert post(admin, f"/o/{org.slug}/ownership",
                {"new_owner": str(people["bob"].id), "then": "stay"}).status_code == 403
    assert roles_of(org) == before and roles_of(other)[strangers["owner"].id] == "owner"


def test_with_nobody_to_take_over_the_page_says_invite_or_delete(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    page = client.get(f"/o/{org.slug}/ownership").get_data(as_text=True)
    assert 'data-testid="no-successor"' in page and "#deletion" in page
