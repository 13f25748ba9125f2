"""SCIM Users: provisioning makes members (or invitations), deactivation ends access."""

from __future__ import annotations

from tests import factories
from tests.scim.conftest import USER_SCHEMA, membership_role, person_id


def test_create_get_list_filter_and_page(scim):
    client, org, _, domain = scim
    created = [client.create_user(f"user{i}@{domain}") for i in range(5)]
    first = created[0]
    assert first["active"] is True and first["userName"] == f"user0@{domain}"
    assert first["meta"]["location"].endswith(f"/scim/v2/Users/{first['id']}")
    assert membership_role(org.id, person_id(f"user0@{domain}")) == "member"

    got = client.get(f"/Users/{first['id']}")
    assert got.status_code == 200 and got.get_json()["userName"] == first["userName"]

    page = client.get("/Users?startIndex=2&count=2").get_json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [r["id"] for r in page["Resources"]] == [created[1]["id"], created[2]["id"]]

    for query in (f'userName eq "USER3@{domain}"',
                  f'emails[type eq "work"].value eq "user3@{domain}"'):
        found = client.get(f"/Users?filter={query}").get_json()
        assert found["totalResults"] == 1, query
        assert found["Resources"][0]["id"] == created[3]["id"]
    client.patch(f"/Users/{created[4]['id']}", {"op": "replace", "path": "externalId",
                                                 "value": "ext-4"})
    found = client.get('/Users?filter=externalId eq "ext-4"').get_json()
    assert [r["id"] for r in found["Resources"]] == [created[4]["id"]]
    assert client.get('/Users?filter=userName sw "user"').get_json()["totalResults"] == 5


def test_outsider_email_becomes_an_invitation_not_a_member(scim, mail_server):
    client, org, _, _ = scim
    email = f"outsider-{factories.unique('x')}@elsewhere.example"
    user = client.create_user(email)
    assert user["active"] is True
    assert person_id(email) is None  # nobody was created, nobody pulled in
    invitation = factories.execute(
        "SELECT status FROM invitations WHERE org_id = :o AND lower(email) = lower(:e)",
        o=org.id, e=email).one()
    assert invitation.status == "pending"
    assert mail_server.last(to=email)


def test_deactivate_and_reactivate_restore_the_role(scim):
    client, org, people, domain = scim
    user = client.create_user(f"dee@{domain}")
    pid = person_id(f"dee@{domain}")
    factories.execute("UPDATE memberships SET role = 'admin' WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=pid)
    response = client.patch(f"/Users/{user['id']}",
                            {"op": "replace", "path": "active", "value": False})
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert membership_role(org.id, pid) is None
    assert client.get(f"/Users/{user['id']}").get_json()["active"] is False
    actions = [r.action for r in factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o ORDER BY at", o=org.id)]
    assert "scim.user.deactivate" in actions and "member.remove" in actions

    client.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": True})
    assert membership_role(org.id, pid) == "admin"


def test_delete_removes_the_membership_only(scim):
    client, org, _, domain = scim
    user = client.create_user(f"gone@{domain}")
    pid = person_id(f"gone@{domain}")
    other = factories.OrgFactory()
    factories.MembershipFactory(org_id=other.id, user_id=pid, role="member")
    assert client.delete(f"/Users/{user['id']}").status_code == 204
    assert membership_role(org.id, pid) is None
    assert membership_role(other.id, pid) == "member"
    assert client.get(f"/Users/{user['id']}").status_code == 404


def test_existing_member_is_linked_not_duplicated(scim):
    client, org, people, _ = scim
    admin = people["admin"]
    user = client.create_user(admin.email)
    assert membership_role(org.id, admin.id) == "admin"
    assert client.get(f"/Users/{user['id']}").status_code == 200


def test_password_is_never_stored(scim):
    client, org, _, domain = scim
    client.create_user(f"pw@{domain}", password="Sup3rSecret!")
    row = factories.execute(
        "SELECT u.password_hash, s.resource::text AS resource FROM scim_users s"
        " JOIN users u ON u.id = s.user_id WHERE s.org_id = :o AND s.user_name = :n",
        o=org.id, n=f"pw@{domain}").one()
    assert row.password_hash is None and "Sup3rSecret" not in row.resource
    assert USER_SCHEMA


def test_invited_person_who_accepts_is_then_deprovisioned(scim, app):
    """An outsider joins through the invitation; the IdP's deactivation then removes them."""
    from dashboard.members.invitations import hash_token
    from tests.helpers import login, post

    client, org, _, _ = scim
    email = f"joiner-{factories.unique('j')}@elsewhere.example"
    user = client.create_user(email)
    person = factories.UserFactory(email=email)
    token = "scim-test-invite-token-" + factories.unique("t")
    digest = hash_token(token)
    factories.execute("UPDATE invitations SET token_hash = :h WHERE org_id = :o"
                      " AND lower(email) = lower(:e)", h=digest, o=org.id, e=email)
    browser = app.test_client()
    login(browser, person)
    accepted = post(browser, f"/invitations/{token}")
    assert accepted.status_code in (302, 303), accepted.get_data(as_text=True)
    assert membership_role(org.id, person.id) == "member"
    client.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False})
    assert membership_role(org.id, person.id) is None
