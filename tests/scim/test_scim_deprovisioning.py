"""Deactivation is felt on the very next request: browser session, access token, API; the
person's other org and another org's SCIM token are untouched. Reactivation restores."""

from __future__ import annotations

from tests import factories
from tests.helpers import bearer_headers, login, post
from tests.scim.conftest import ScimClient, membership_role, person_id, scim_org


def _give_password(user_id, land_in) -> None:
    """A password to sign in with, landing in ``land_in`` (SCIM itself never sets either)."""
    factories.execute("UPDATE users SET password_hash = :h, last_org_id = :o WHERE id = :u",
                      h=factories._state["password_hash"], o=land_in.id, u=user_id)


def test_deactivation_ends_session_and_access_token_at_once(app):
    org, _, domain, token, _ = scim_org()
    other, _, other_domain, other_token, _ = scim_org()
    browser, api = app.test_client(), app.test_client()
    scim = ScimClient(app.test_client(), token)
    other_scim = ScimClient(app.test_client(), other_token)

    email = f"leaver@{domain}"
    user = scim.create_user(email)
    pid = person_id(email)
    _give_password(pid, org)
    factories.MembershipFactory(org_id=other.id, user_id=pid, role="member")  # also in B
    other_user = other_scim.create_user(f"stays@{other_domain}")

    login(browser, email)
    assert browser.get(f"/o/{org.slug}/").status_code == 200
    login(api, email)
    api.get(f"/o/{org.slug}/")
    headers = bearer_headers(api)
    assert api.get("/api/v1/org", headers=headers).status_code == 200

    response = scim.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active",
                                                   "value": False})
    assert response.status_code in (200, 204)

    assert browser.get(f"/o/{org.slug}/").status_code in (403, 404)
    assert api.get("/api/v1/org", headers=headers).status_code == 401
    # Only this org: the person's membership elsewhere and the other org's token stand.
    assert membership_role(other.id, pid) == "member"
    assert other_scim.get(f"/Users/{other_user['id']}").status_code == 200
    switched = post(browser, "/switch", {"slug": other.slug, "next": f"/o/{other.slug}/"})
    assert switched.status_code == 303
    assert browser.get(f"/o/{other.slug}/").status_code == 200

    scim.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": True})
    assert membership_role(org.id, pid) == "member"
    post(browser, "/switch", {"slug": org.slug, "next": f"/o/{org.slug}/"})
    assert browser.get(f"/o/{org.slug}/").status_code == 200
    events = [r.action for r in factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o ORDER BY at", o=org.id)]
    assert "scim.user.deactivate" in events and "scim.user.reactivate" in events


def test_delete_ends_access_and_keeps_other_memberships(app):
    org, _, domain, token, _ = scim_org()
    other = factories.OrgFactory()
    scim = ScimClient(app.test_client(), token)
    email = f"deleted@{domain}"
    user = scim.create_user(email)
    pid = person_id(email)
    _give_password(pid, org)
    factories.MembershipFactory(org_id=other.id, user_id=pid, role="admin")
    browser = app.test_client()
    login(browser, email)
    assert browser.get(f"/o/{org.slug}/").status_code == 200
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert browser.get(f"/o/{org.slug}/").status_code in (403, 404)
    assert membership_role(other.id, pid) == "admin"
    # SCIM never touched the person's account: still there, password unchanged.
    row = factories.execute("SELECT password_hash FROM users WHERE id = :u", u=pid).one()
    assert row.password_hash == factories._state["password_hash"]
