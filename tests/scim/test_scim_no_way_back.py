"""A person the org's directory deactivated cannot come back by another door: not by an
invitation, not by joining by email domain, not by any other membership insert (SSO
just-in-time joining goes through the same insert). Reactivation by the directory lifts it."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from tests import factories
from tests.helpers import login, post
from tests.scim.conftest import ScimClient, membership_role, person_id, scim_org


def _deactivated_person(app):
    """An org with SCIM and a person it provisioned, then deactivated (password: the test's)."""
    org, _, domain, token, _ = scim_org()
    scim = ScimClient(app.test_client(), token)
    email = f"leaver@{domain}"
    user = scim.create_user(email)
    pid = person_id(email)
    factories.execute("UPDATE users SET password_hash = :h WHERE id = :u",
                      h=factories._state["password_hash"], u=pid)
    response = scim.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active",
                                                   "value": False})
    assert response.status_code in (200, 204)
    assert membership_role(org.id, pid) is None
    return org, scim, user, email, pid


def test_no_membership_insert_for_a_blocked_person_whatever_the_path(app):
    org, _, _, _, pid = _deactivated_person(app)
    with pytest.raises(DBAPIError) as refused:  # even the table owner's plain INSERT
        factories.execute("INSERT INTO memberships (org_id, user_id, role)"
                          " VALUES (:o, :u, 'member')", o=org.id, u=pid)
    factories.session().rollback()
    assert refused.value.orig.sqlstate == "TD403"
    assert membership_role(org.id, pid) is None


def test_an_invitation_cannot_bring_them_back(app):
    org, _, _, email, pid = _deactivated_person(app)
    _, token = factories.invitation(org, email)
    client = app.test_client()
    assert login(client, email).status_code in (302, 303)
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200
    response = post(client, f"/invitations/{token}")
    assert response.status_code == 403
    assert "directory" in response.get_data(as_text=True)
    assert membership_role(org.id, pid) is None
    status = factories.execute("SELECT status FROM invitations WHERE org_id = :o AND"
                               " lower(email) = lower(:e)", o=org.id, e=email).scalar_one()
    assert status == "pending"  # nothing changed: the refusal rolled the whole join back


def test_joining_by_domain_is_neither_offered_nor_allowed(app):
    org, _, _, email, pid = _deactivated_person(app)
    factories.execute("UPDATE organizations SET settings = settings ||"
                      " '{\"domain_join\": true}' WHERE id = :o", o=org.id)
    client = app.test_client()
    login(client, email)
    welcome = client.get("/welcome")
    assert f"Join {org.name}" not in welcome.get_data(as_text=True)
    assert post(client, f"/welcome/join/{org.id}").status_code in (403, 404)
    assert membership_role(org.id, pid) is None


def test_reactivation_and_re_creation_by_the_directory_lift_the_block(app):
    org, scim, user, email, pid = _deactivated_person(app)
    scim.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": True})
    assert membership_role(org.id, pid) == "member"
    # Deleted by the directory while inactive: still blocked; created again: back in.
    scim.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False})
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    blocked = factories.execute("SELECT count(*) FROM directory_blocks WHERE org_id = :o"
                                " AND user_id = :u", o=org.id, u=pid).scalar_one()
    assert blocked == 1
    scim.create_user(email)
    assert membership_role(org.id, pid) is not None
    assert factories.execute("SELECT count(*) FROM directory_blocks WHERE org_id = :o",
                             o=org.id).scalar_one() == 0


def test_a_block_is_per_org(app):
    org, _, _, email, pid = _deactivated_person(app)
    other, _ = factories.org_with_members(owner="owner")
    _, token = factories.invitation(other, email)
    client = app.test_client()
    login(client, email)
    assert post(client, f"/invitations/{token}").status_code == 303
    assert membership_role(other.id, pid) == "member"
