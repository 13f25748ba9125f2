"""Privilege escalation through hand-made POSTs: each refused, and nothing changes.

The rules under attack (dashboard/members/roles.py): nobody grants a role or permission they do
not hold; only owners make or touch owners; an org always keeps an owner.
"""

from __future__ import annotations

import pytest

from tests import factories
from tests.helpers import login, post


def state(org):
    """Everything these attacks could change in the org (memberships, invitations, roles,
    audit rows), to assert a refused request changed nothing at all."""
    return (
        factories.execute("SELECT user_id, role FROM memberships WHERE org_id = :o ORDER BY 1",
                          o=org.id).all(),
        factories.execute("SELECT id, email, role, status, token_hash FROM invitations"
                          " WHERE org_id = :o ORDER BY 1", o=org.id).all(),
        factories.execute("SELECT key, name, permissions FROM roles WHERE org_id = :o"
                          " ORDER BY 1", o=org.id).all(),
        factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o AND action"
                          " NOT IN ('auth.login', 'session.switch')", o=org.id).scalar(),
    )


@pytest.fixture
def org_people():
    org, people = factories.org_with_members(
        owner="owner", adam="admin", bob="member", gina="guest")
    factories.put_on_plan(org, "scale")  # custom roles are a Scale feature
    return org, people


def attempt(client, user, path, data=None, expected=403, **kwargs):
    login(client, user)
    return post(client, path, data or {}, **kwargs)


def test_guest_cannot_invite(client, org_people):
    org, people = org_people
    before = state(org)
    response = attempt(client, people["gina"], f"/o/{org.slug}/invitations",
                       {"emails": "friend@example.com", "role": "guest"})
    assert response.status_code == 403 and state(org) == before


def test_member_cannot_invite_change_roles_or_remove(client, org_people):
    org, people = org_people
    login(client, people["bob"])
    before = state(org)
    assert post(client, f"/o/{org.slug}/invitations",
                {"emails": "x@example.com", "role": "member"}).status_code == 403
    assert post(client, f"/o/{org.slug}/members/{people['bob'].id}/role",
                {"role": "admin"}).status_code == 403
    assert post(client, f"/o/{org.slug}/members/{people['gina'].id}/remove").status_code == 403
    assert post(client, f"/o/{org.slug}/roles",
                {"name": "Sneaky", "permissions": ["members.invite"]}).status_code == 403
    assert state(org) == before


def test_admin_cannot_make_themselves_owner(client, org_people):
    org, people = org_people
    before = state(org)
    response = attempt(client, people["adam"],
                       f"/o/{org.slug}/members/{people['adam'].id}/role", {"role": "owner"})
    assert response.status_code == 403 and state(org) == before


def test_admin_cannot_make_anyone_owner(client, org_people):
    org, people = org_people
    before = state(org)
    response = attempt(client, people["adam"],
                       f"/o/{org.slug}/members/{people['bob'].id}/role", {"role": "owner"})
    assert response.status_code == 403 and state(org) == before


def test_admin_cannot_demote_an_owner(client, org_people):
    org, people = org_people
    before = state(org)
    for role in ("admin", "member", "guest"):
        response = attempt(client, people["adam"],
                           f"/o/{org.slug}/members/{people['owner'].id}/role", {"role": role},
                           headers={"HX-Request": "true"})
        assert response.status_code == 403, role
    assert state(org) == before


def test_admin_cannot_remove_an_owner(client, org_people):
    org, people = org_people
    before = state(org)
    response = attempt(client, people["adam"],
                       f"/o/{org.slug}/members/{people['owner'].id}/remove")
    assert response.status_code == 403 and state(org) == before


def test_admin_cannot_invite_an_owner(client, org_people):
    org, people = org_people
    before = state(org)
    response = attempt(client, people["adam"], f"/o/{org.slug}/invitations",
                       {"emails": "boss@example.com", "role": "owner"})
    assert response.status_code == 403 and state(org) == before


def test_admin_cannot_touch_an_owner_invitation(client, org_people):
    org, people = org_people
    row, _ = factories.invitation(org, "future-owner@example.com", role="owner")
    before = state(org)
    login(client, people["adam"])
    for action in ("resend", "revoke"):
        response = post(client, f"/o/{org.slug}/invitations/{row.id}/{action}")
        assert response.status_code == 403, action
    # nor turn it into something else by inviting the same address again
    assert post(client, f"/o/{org.slug}/invitations",
                {"emails": "future-owner@example.com", "role": "member"}).status_code == 403
    assert state(org) == before


def test_the_last_owner_cannot_leave_or_step_down(client, org_people):
    org, people = org_people
    login(client, people["owner"])
    before = state(org)
    assert post(client, f"/o/{org.slug}/leave").status_code == 409
    assert post(client, f"/o/{org.slug}/members/{people['owner'].id}/role",
                {"role": "admin"}).status_code == 409
    # removing yourself is leaving, and says so
    assert post(client, f"/o/{org.slug}/members/{people['owner'].id}/remove").status_code == 400
    assert state(org) == before


def test_with_two_owners_one_may_go_but_never_both(client, org_people):
    org, people = org_people
    olga = factories.UserFactory()
    factories.MembershipFactory(org_id=org.id, user_id=olga.id, role="owner")
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/members/{olga.id}/role",
                {"role": "admin"}).status_code == 303
    assert post(client, f"/o/{org.slug}/members/{people['owner'].id}/role",
                {"role": "admin"}).status_code == 409
    owners = factories.execute("SELECT count(*) FROM memberships WHERE org_id = :o"
                               " AND role = 'owner'", o=org.id).scalar()
    assert owners == 1


def test_a_role_with_every_permission_still_cannot_touch_owners(client, org_people):
    """Owner is special: a custom role holding all permissions is still not an owner."""
    from dashboard.permissions import ALL_PERMISSIONS

    org, people = org_people
    factories.CustomRoleFactory(org_id=org.id, key="almighty", name="Almighty",
                                permissions=sorted(p.value for p in ALL_PERMISSIONS))
    boss = factories.UserFactory()
    factories.MembershipFactory(org_id=org.id, user_id=boss.id, role="almighty")
    login(client, boss)
    before = state(org)
    assert post(client, f"/o/{org.slug}/members/{people['owner'].id}/remove").status_code == 403
    assert post(client, f"/o/{org.slug}/members/{people['owner'].id}/role",
                {"role": "member"}).status_code == 403
    assert post(client, f"/o/{org.slug}/members/{boss.id}/role",
                {"role": "owner"}).status_code == 403
    assert state(org) == before


def test_admin_cannot_create_or_widen_a_role_beyond_their_own_permissions(client, org_people):
    org, people = org_people
    factories.CustomRoleFactory(org_id=org.id, key="reader", name="Reader",
                                permissions=["org.view"])
    login(client, people["adam"])
    before = state(org)
    assert post(client, f"/o/{org.slug}/roles",
                {"name": "Destroyer", "permissions": ["org.view", "org.delete"]}
                ).status_code == 403
    assert post(client, f"/o/{org.slug}/roles/reader",
                {"name": "Reader", "permissions": ["org.view", "org.delete"]}).status_code == 403
    assert state(org) == before


def test_custom_role_editor_cannot_grant_what_they_lack(client, org_people):
    """A custom role with roles.edit but not members.invite: cannot hand out either further."""
    org, people = org_people
    factories.CustomRoleFactory(org_id=org.id, key="role-keeper", name="Role keeper",
                                permissions=["org.view", "members.view", "roles.edit"])
    factories.CustomRoleFactory(org_id=org.id, key="inviter", name="Inviter",
                                permissions=["org.view", "members.view", "members.invite"])
    keeper = factories.UserFactory()
    factories.MembershipFactory(org_id=org.id, user_id=keeper.id, role="role-keeper")
    login(client, keeper)
    before = state(org)
    assert post(client, f"/o/{org.slug}/roles",
                {"name": "Invite too", "permissions": ["org.view", "members.invite"]}
                ).status_code == 403
    # nor assign a role that carries it, nor a built-in role above their own
    for role in ("inviter", "admin", "member"):
        assert post(client, f"/o/{org.slug}/members/{people['gina'].id}/role",
                    {"role": role}).status_code == 403, role
    # nor edit a role that holds more than they do
    assert post(client, f"/o/{org.slug}/roles/inviter",
                {"name": "Inviter", "permissions": ["org.view"]}).status_code == 403
    assert post(client, f"/o/{org.slug}/roles/inviter/delete").status_code == 403
    assert state(org) == before


def test_unknown_roles_and_permissions_are_form_errors(client, org_people):
    org, people = org_people
    login(client, people["owner"])
    before = state(org)
    for data in ({"role": "emperor"}, {"role": ""}, {"role": "x" * 1000}):
        response = post(client, f"/o/{org.slug}/members/{people['bob'].id}/role", data)
        assert response.status_code == 400, data
    for data in ({"name": "Ok", "permissions": ["root.everything"]},
                 {"name": "x" * 61, "permissions": ["org.view"]},
                 {"name": "", "permissions": ["org.view"]},
                 {"name": "Owner", "permissions": ["org.view"]},
                 {"name": "!!!", "permissions": ["org.view"]}):
        response = post(client, f"/o/{org.slug}/roles", data)
        assert response.status_code == 400, data
        assert "field-error" in response.get_data(as_text=True)
    assert state(org) == before


def test_no_confirmation_page_for_a_removal_that_would_be_refused(client, org_people):
    org, people = org_people
    login(client, people["adam"])
    assert client.get(f"/o/{org.slug}/members/{people['owner'].id}/remove").status_code == 403
    assert client.get(f"/o/{org.slug}/members/{people['bob'].id}/remove").status_code == 200
    own = client.get(f"/o/{org.slug}/members/{people['adam'].id}/remove")
    assert own.status_code == 303 and own.headers["Location"].endswith(f"/o/{org.slug}/leave")
