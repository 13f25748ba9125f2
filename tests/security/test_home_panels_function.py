"""``app_home_panels()`` (migration 0053) reads member_counts, invitations, the checklist's
three tables and audit_events past RLS (SECURITY DEFINER) for the org home: it must answer
for the org the gate admits and for no other, whatever the caller's context says, and read
only the panels asked for."""

from __future__ import annotations

from sqlalchemy import text

from dashboard import tenancy
from tests import factories


def panels(runtime_sessions, ask=(True, True, True), **context) -> tuple:
    with tenancy.scoped_session(runtime_sessions, tenancy.TenantContext(**context)) as session:
        row = session.execute(
            text("SELECT * FROM app_home_panels(:c, :i, :e, 5)"),
            {"c": ask[0], "i": ask[1], "e": ask[2]},
        ).one()
    return tuple(row)


def fill(org, tag: str) -> None:
    for i in range(7):
        factories.invitation(org, f"{tag}{i}@example.com")
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target)"
        " VALUES (:o, :a, 'org.update', :t)",
        o=org.id,
        a=f"{tag}-actor",
        t=f"org:{tag}",
    )
    factories.api_key(org)


def test_it_answers_for_the_admitted_org_only(runtime_sessions):
    org, people = factories.org_with_members(owner="owner", bob="member")
    other, other_people = factories.org_with_members(owner="owner")
    fill(org, "mine")
    fill(other, "theirs")
    owner, outsider = people["owner"], other_people["owner"]
    members, invite, setup, invitations, events = panels(
        runtime_sessions, user_id=owner.id, org_id=org.id
    )
    assert members == 2 and invite is True and setup == [False, False, True]
    assert invitations[0] == 7 and len(invitations[1]) == 5
    assert all(i[1].startswith("mine") for i in invitations[1])
    assert [e[1] for e in events] == ["mine-actor"]
    # Naming the org is not enough: the gate refuses a non-member, and the answer is nothing.
    refused = panels(runtime_sessions, user_id=outsider.id, org_id=org.id)
    assert refused == (0, False, [False, False, False], [0, []], [])
    assert panels(runtime_sessions) == (0, False, [False, False, False], [0, []], [])
    assert panels(runtime_sessions, org_id=org.id)[3] == [0, []]


def test_it_follows_the_gate_when_the_membership_or_the_org_goes(runtime_sessions):
    org, people = factories.org_with_members(owner="owner", bob="member")
    fill(org, "x")
    bob = people["bob"]
    assert panels(runtime_sessions, user_id=bob.id, org_id=org.id)[3][0] == 7
    factories.execute(
        "DELETE FROM memberships WHERE org_id = :o AND user_id = :u", o=org.id, u=bob.id
    )
    assert panels(runtime_sessions, user_id=bob.id, org_id=org.id)[3] == [0, []]
    owner = people["owner"]
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=org.id)
    assert panels(runtime_sessions, user_id=owner.id, org_id=org.id)[4] == []


def test_a_panel_not_asked_for_is_not_read(runtime_sessions):
    org, people = factories.org_with_members(owner="owner")
    fill(org, "y")
    owner = people["owner"]
    assert panels(runtime_sessions, (False, False, False), user_id=owner.id, org_id=org.id) == (
        1,
        None,
        None,
        None,
        None,
    )
