"""SCIM Groups: members, group -> role mapping (highest wins, owners untouched)."""

from __future__ import annotations

from dashboard.members import roles as role_rules
from dashboard.scim import console, service
from tests import factories
from tests.scim.conftest import GROUP_SCHEMA, membership_role, person_id


def _members(client, group_id) -> set[str]:
    body = client.get(f"/Groups/{group_id}").get_json()
    return {m["value"] for m in body.get("members", [])}


def map_group(sessions, org, person, role_key, group_id, role):
    """Map a group as ``person`` would on the SCIM page (same rules, their RLS session)."""
    from dashboard import tenancy
    from dashboard.permissions import BUILTIN_ROLES

    context = tenancy.TenantContext(user_id=person.id, org_id=org.id)
    with tenancy.scoped_session(sessions, context) as session:
        editor = role_rules.Editor(person.id, role_key,
                                   frozenset(BUILTIN_ROLES[role_key]["permissions"]))
        caller = service.Caller(org_id=org.id, credential_id=None, label=person.email,
                                created_by=person.id)
        console.set_group_role(session, group_id=group_id, role=role, editor=editor,
                               caller=caller, actor=caller.actor())


def test_group_crud_and_member_patches(scim):
    client, org, _, domain = scim
    users = [client.create_user(f"g{i}@{domain}")["id"] for i in range(3)]
    group = client.create_group("Engineering", users[:2])
    assert _members(client, group["id"]) == set(users[:2])
    listed = client.get('/Groups?filter=displayName eq "engineering"').get_json()
    assert [g["id"] for g in listed["Resources"]] == [group["id"]]

    client.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                            "value": [{"value": users[2]}]})
    assert _members(client, group["id"]) == set(users)
    client.patch(f"/Groups/{group['id']}",
                 {"op": "remove", "path": f'members[value eq "{users[0]}"]'})
    assert _members(client, group["id"]) == set(users[1:])
    client.patch(f"/Groups/{group['id']}", {"op": "replace", "path": "members",
                                            "value": [{"value": users[0]}]})
    assert _members(client, group["id"]) == {users[0]}
    client.patch(f"/Groups/{group['id']}", {"op": "replace", "path": "displayName",
                                            "value": "Eng"})
    assert client.get(f"/Groups/{group['id']}").get_json()["displayName"] == "Eng"
    assert client.delete(f"/Groups/{group['id']}").status_code == 204
    assert client.get(f"/Groups/{group['id']}").status_code == 404
    assert client.get(f"/Users/{users[0]}").status_code == 200  # users stay


def test_highest_mapped_role_wins_and_unmapped_falls_back(scim, runtime_sessions):
    client, org, people, domain = scim
    alice = client.create_user(f"alice@{domain}")["id"]
    bob = client.create_user(f"bob@{domain}")["id"]
    admins = client.create_group("Tenantdesk Admins", [alice])
    guests = client.create_group("Contractors", [alice, bob])
    map_group(runtime_sessions, org, people["owner"], "owner", admins["id"], "admin")
    map_group(runtime_sessions, org, people["owner"], "owner", guests["id"], "guest")
    assert membership_role(org.id, person_id(f"alice@{domain}")) == "admin"
    assert membership_role(org.id, person_id(f"bob@{domain}")) == "guest"

    client.patch(f"/Groups/{admins['id']}", {"op": "remove", "path": "members",
                                             "value": [{"value": alice}]})
    assert membership_role(org.id, person_id(f"alice@{domain}")) == "guest"
    client.patch(f"/Groups/{guests['id']}", {"op": "remove", "path": "members",
                                             "value": [{"value": bob}]})
    assert membership_role(org.id, person_id(f"bob@{domain}")) == "member"  # default role


def test_scim_never_touches_an_owner_nor_maps_owner(scim, runtime_sessions):
    client, org, people, _ = scim
    owner = people["owner"]
    linked = client.create_user(owner.email)["id"]
    group = client.create_group("Everyone", [linked])
    map_group(runtime_sessions, org, owner, "owner", group["id"], "guest")
    assert membership_role(org.id, owner.id) == "owner"
    try:
        map_group(runtime_sessions, org, owner, "owner", group["id"], "owner")
    except console.ConsoleError as exc:
        assert "owner" in exc.message.lower()
    else:
        raise AssertionError("mapping a group to owner must be refused")
    # The last owner cannot be deactivated either.
    response = client.patch(f"/Users/{linked}", {"op": "replace", "path": "active",
                                                 "value": False})
    assert response.status_code == 409, response.get_data(as_text=True)
    assert membership_role(org.id, owner.id) == "owner"


def test_admin_cannot_map_above_their_own_role(scim, runtime_sessions):
    client, org, people, _ = scim
    factories.CustomRoleFactory(org_id=org.id, key="superuser", name="Superuser",
                                permissions=["org.delete", "org.view"])
    group = client.create_group("Power", [])
    try:
        map_group(runtime_sessions, org, people["admin"], "admin", group["id"], "superuser")
    except console.ConsoleError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("an admin must not map a group above their own role")
    assert GROUP_SCHEMA
