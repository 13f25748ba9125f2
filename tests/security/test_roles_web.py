"""The roles page: custom roles from a permission checklist, applied on the next request."""

from __future__ import annotations

from tests import factories
from tests.helpers import login, post


def role_row(org, key):
    return factories.execute("SELECT name, permissions FROM roles WHERE org_id = :o AND key = :k",
                             o=org.id, k=key).one_or_none()


def audit(org, action):
    return factories.execute(
        "SELECT details FROM audit_events WHERE org_id = :o AND action = :a ORDER BY at",
        o=org.id, a=action,
    ).scalars().all()


def test_roles_page_lists_builtin_roles_and_a_checklist(client):
    org, people = factories.org_with_members(owner="owner", adam="admin")
    factories.put_on_plan(org, "scale")  # custom roles are a Scale feature
    login(client, people["adam"])
    html = client.get(f"/o/{org.slug}/roles").get_data(as_text=True)
    for name in ("Owner", "Admin", "Member", "Guest"):
        assert name in html
    assert 'id="perm-members.invite"' in html
    # the admin does not hold org.delete: shown, but cannot be ticked
    checkbox = html.split('id="perm-org.delete"')[1].split(">")[0]
    assert "disabled" in checkbox


def test_create_assign_edit_and_delete_a_custom_role(app, client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "scale")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/roles", {
        "name": "Recruiter", "permissions": ["org.view", "members.view", "members.invite"]})
    assert response.status_code == 303
    assert role_row(org, "recruiter") == ("Recruiter",
                                          ["members.invite", "members.view", "org.view"])
    assert audit(org, "role.create")[0]["after"]["name"] == "Recruiter"

    bob = app.test_client()
    login(bob, people["bob"])
    assert bob.get(f"/o/{org.slug}/invitations").status_code == 403
    assert post(client, f"/o/{org.slug}/members/{people['bob'].id}/role",
                {"role": "recruiter"}).status_code == 303
    assert bob.get(f"/o/{org.slug}/invitations").status_code == 200  # next request

    edit = client.get(f"/o/{org.slug}/roles/recruiter").get_data(as_text=True)
    assert 'value="members.invite"' in edit and "checked" in edit.split(
        'id="perm-members.invite"')[1].split(">")[0]
    assert post(client, f"/o/{org.slug}/roles/recruiter",
                {"name": "Recruiter", "permissions": ["org.view", "members.view"]}
                ).status_code == 303
    assert bob.get(f"/o/{org.slug}/invitations").status_code == 403  # taken away
    (update,) = audit(org, "role.update")
    assert "members.invite" in update["before"]["permissions"]
    assert "members.invite" not in update["after"]["permissions"]

    in_use = post(client, f"/o/{org.slug}/roles/recruiter/delete")
    assert in_use.status_code == 409 and role_row(org, "recruiter") is not None
    post(client, f"/o/{org.slug}/members/{people['bob'].id}/role", {"role": "member"})
    assert post(client, f"/o/{org.slug}/roles/recruiter/delete").status_code == 303
    assert role_row(org, "recruiter") is None
    assert audit(org, "role.delete")[0]["before"]["name"] == "Recruiter"


def test_a_role_held_by_a_pending_invitation_cannot_be_deleted(client):
    org, people = factories.org_with_members(owner="owner")
    factories.CustomRoleFactory(org_id=org.id, key="contractor", name="Contractor")
    factories.invitation(org, "contractor@example.com", role="contractor")
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/roles/contractor/delete").status_code == 409
    assert role_row(org, "contractor") is not None


def test_duplicate_role_names_are_a_form_error(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "scale")
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/roles",
                {"name": "Support", "permissions": ["org.view"]}).status_code == 303
    again = post(client, f"/o/{org.slug}/roles", {"name": "support", "permissions": []})
    assert again.status_code == 400 and "already exists" in again.get_data(as_text=True)


def test_invitations_can_offer_a_custom_role(client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    factories.CustomRoleFactory(org_id=org.id, key="auditor", name="Auditor",
                                permissions=["org.view", "audit.view"])
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/invitations",
                {"emails": "aud@example.com", "role": "auditor"}).status_code == 303
    assert "Auditor" in mail_server.text(mail_server.last(to="aud@example.com"))


def test_builtin_roles_have_no_edit_page(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "scale")
    login(client, people["owner"])
    for key in ("owner", "admin", "member", "guest", "no-such-role"):
        assert client.get(f"/o/{org.slug}/roles/{key}").status_code == 404, key


def test_without_custom_roles_the_page_shows_built_ins_and_refuses_new_roles(client):
    """Growth does not include custom roles: the page says so and creating one is refused."""
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "growth")
    factories.CustomRoleFactory(org_id=org.id, key="kept", name="Kept", permissions=["org.view"])
    login(client, people["owner"])
    page = client.get(f"/o/{org.slug}/roles").get_data(as_text=True)
    assert 'data-testid="custom-roles-locked"' in page and "Create role" not in page
    refused = post(client, f"/o/{org.slug}/roles", {"name": "Nope", "permissions": ["org.view"]})
    assert refused.status_code == 403 and role_row(org, "nope") is None
    assert post(client, f"/o/{org.slug}/roles/kept",
                {"name": "Changed", "permissions": []}).status_code == 403
    assert role_row(org, "kept") == ("Kept", ["org.view"])
    # tidying up after a downgrade stays possible
    assert post(client, f"/o/{org.slug}/roles/kept/delete").status_code == 303
