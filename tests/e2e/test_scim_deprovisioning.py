"""Deprovisioning felt by a signed-in chromium session on its very next request: the IdP
deactivates the person over SCIM, the next page load in the browser is refused; the same
person's other org keeps working, and reactivation lets them back in."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import sign_in, switch_org
from tests.scim.conftest import PATCH_SCHEMA, live_hmac_key, person_id, scim_org

pytestmark = pytest.mark.e2e


def _set_active(live_server, token, user_id, active: bool) -> None:
    response = requests.patch(
        live_server(f"/scim/v2/Users/{user_id}"), timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        json={"schemas": [PATCH_SCHEMA],
              "Operations": [{"op": "Replace", "path": "active", "value": str(active)}]},
    )
    assert response.status_code in (200, 204), response.text


def test_browser_session_loses_the_org_on_its_next_request(page, live_server):
    org, _, domain, token, _ = scim_org(hmac_key=live_hmac_key(live_server))
    other = factories.OrgFactory(name=f"Other {factories.unique('o')}")
    email = f"browser.leaver@{domain}"
    created = requests.post(
        live_server("/scim/v2/Users"), timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
              "emails": [{"type": "work", "value": email, "primary": True}], "active": True},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    pid = person_id(email)
    factories.MembershipFactory(org_id=other.id, user_id=pid, role="member")
    factories.execute("UPDATE users SET password_hash = :h, last_org_id = :o WHERE id = :u",
                      h=factories._state["password_hash"], o=org.id, u=pid)

    sign_in(page, email)
    expect(page).to_have_url(re.compile(rf"/o/{org.slug}/"))
    _set_active(live_server, token, user_id, False)
    response = page.reload()
    assert response.status == 404
    switch_org(page, other.name, other.slug)  # the person's other org is untouched
    _set_active(live_server, token, user_id, True)
    response = page.goto(f"/o/{org.slug}/")
    expect(page).to_have_url(re.compile(rf"/o/{org.slug}/"))
    assert response.status == 200
