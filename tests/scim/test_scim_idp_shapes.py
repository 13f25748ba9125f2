"""Request shapes real IdPs send, as captured from Microsoft Entra ID and Okta."""

from __future__ import annotations

from tests.scim.conftest import GROUP_SCHEMA, USER_SCHEMA, membership_role, person_id

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _members(client, group_id) -> set[str]:
    return {m["value"] for m in client.get(f"/Groups/{group_id}").get_json().get("members", [])}


def test_entra_id_user_lifecycle(scim):
    client, org, _, domain = scim
    email = f"entra.user@{domain}"
    # Entra's first look-up, then its create (enterprise extension, "True" as a string).
    found = client.get(f'/Users?filter=userName eq "{email}"').get_json()
    assert found["totalResults"] == 0
    response = client.post("/Users", {
        "schemas": [USER_SCHEMA, ENTERPRISE], "externalId": "0a21f0f2-8d2a-4f8e-bf98",
        "userName": email, "active": "True", "displayName": "Entra User",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "name": {"formatted": "Entra User", "familyName": "User", "givenName": "Entra"},
        "roles": [], ENTERPRISE: {"department": "Sales", "employeeNumber": "42"},
    })
    assert response.status_code == 201, response.get_data(as_text=True)
    user = response.get_json()
    assert user[ENTERPRISE]["department"] == "Sales"
    pid = person_id(email)
    assert membership_role(org.id, pid) == "member"
    # Attribute updates: capitalised ops, value filter paths.
    response = client.patch(f"/Users/{user['id']}",
                            {"op": "Replace", "path": "displayName", "value": "Entra U."},
                            {"op": "Replace", "path": 'emails[type eq "work"].value',
                             "value": email},
                            {"op": "Add", "path": "name.givenName", "value": "Entra2"})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    # Disable: "False" as a string; then enable through a PATCH without a path.
    response = client.patch(f"/Users/{user['id']}",
                            {"op": "Replace", "path": "active", "value": "False"})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert membership_role(org.id, pid) is None
    response = client.patch(f"/Users/{user['id']}", {"op": "Replace", "value": {"active": "True"}})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert membership_role(org.id, pid) == "member"
    response = client.patch(f"/Users/{user['id']}", {"op": "Replace", "value": {"active": False}})
    assert membership_role(org.id, pid) is None
    body = client.get(f"/Users/{user['id']}").get_json()
    assert body["active"] is False and body["displayName"] == "Entra U."


def test_entra_id_group_members_add_and_remove_one(scim):
    client, org, _, domain = scim
    users = [client.create_user(f"entra{i}@{domain}")["id"] for i in range(3)]
    response = client.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Entra Group",
                                       "externalId": "8aa1a0c0", "members": []})
    group = response.get_json()
    found = client.get('/Groups?filter=displayName eq "Entra Group"&excludedAttributes=members')
    assert found.get_json()["totalResults"] == 1
    client.patch(f"/Groups/{group['id']}", {"op": "Add", "path": "members",
                                            "value": [{"value": u} for u in users]})
    assert _members(client, group["id"]) == set(users)
    # Entra removes one member with a value array ...
    response = client.patch(f"/Groups/{group['id']}", {"op": "Remove", "path": "members",
                                                       "value": [{"value": users[0]}]})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert _members(client, group["id"]) == set(users[1:])
    # ... or with a value filter path; the others stay.
    response = client.patch(f"/Groups/{group['id']}",
                            {"op": "Remove", "path": f'members[value eq "{users[1]}"]'})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert _members(client, group["id"]) == {users[2]}


def test_okta_put_updates_and_patch_for_active(scim):
    client, org, _, domain = scim
    email = f"okta.user@{domain}"
    found = client.get(f'/Users?filter=userName eq "{email}"&startIndex=1&count=100')
    assert found.get_json()["totalResults"] == 0
    user = client.post("/Users", {
        "schemas": [USER_SCHEMA], "userName": email, "active": True,
        "name": {"givenName": "Okta", "familyName": "User"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": "Okta User", "locale": "en-US", "externalId": "00u1abcd", "groups": [],
    }).get_json()
    pid = person_id(email)
    # Okta sends the whole user on every profile change.
    response = client.put(f"/Users/{user['id']}", {
        "schemas": [USER_SCHEMA], "id": user["id"], "userName": email, "active": True,
        "name": {"givenName": "Okta", "familyName": "Renamed"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": "Okta Renamed", "externalId": "00u1abcd",
    })
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["name"]["familyName"] == "Renamed"
    assert membership_role(org.id, pid) == "member"
    # ... and PATCH to deactivate / reactivate.
    response = client.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert membership_role(org.id, pid) is None
    client.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": True}})
    assert membership_role(org.id, pid) == "member"


def test_okta_group_push_removes_one_member_only(scim):
    client, org, _, domain = scim
    users = [client.create_user(f"okta{i}@{domain}")["id"] for i in range(3)]
    group = client.create_group("Okta Push", users)
    response = client.patch(f"/Groups/{group['id']}",
                            {"op": "remove", "path": f'members[value eq "{users[0]}"]'})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert _members(client, group["id"]) == set(users[1:])
    # Okta renames with PUT (members included).
    response = client.put(f"/Groups/{group['id']}", {
        "schemas": [GROUP_SCHEMA], "id": group["id"], "displayName": "Okta Push 2",
        "members": [{"value": u} for u in users[1:]]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _members(client, group["id"]) == set(users[1:])
