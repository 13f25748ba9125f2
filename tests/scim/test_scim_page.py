"""The org's SCIM page: who sees it, tokens shown once / rotated with overlap / revoked,
group -> role mappings, and the request log with outcomes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.helpers import csrf_token, login, post
from tests.scim.conftest import ScimClient, membership_role, person_id, scim_org


@pytest.fixture
def org_admin(client):
    org, people, domain, token, credential_id = scim_org(owner="owner", admin="admin",
                                                         bob="member")
    return client, org, people, domain, token


def _new_token(html: str) -> str:
    match = re.search(r'value="(td_scim_[a-z0-9]{12}_[A-Za-z0-9_-]{43})"', html)
    assert match, "no new token on the page"
    return match.group(1)


def test_owners_and_admins_only_and_only_with_the_feature(org_admin):
    client, org, people, _, _ = org_admin
    login(client, people["bob"])
    assert client.get(f"/o/{org.slug}/scim").status_code == 403
    login(client, people["admin"])
    page = client.get(f"/o/{org.slug}/scim")
    assert page.status_code == 200
    assert "http://localhost/scim/v2" in page.get_data(as_text=True)
    factories.put_on_plan(org, "starter")
    assert client.get(f"/o/{org.slug}/scim").status_code == 403


def test_token_shown_once_works_rotates_with_overlap_and_revokes(org_admin, app):
    client, org, people, domain, _ = org_admin
    login(client, people["admin"])
    created = post(client, f"/o/{org.slug}/scim/tokens", {"name": "Okta production"})
    assert created.status_code == 201
    token = _new_token(created.get_data(as_text=True))
    stored = factories.execute(
        "SELECT id, secret_hash FROM org_credentials WHERE org_id = :o AND name = :n",
        o=org.id, n="Okta production").one()
    assert token.split("_")[-1].encode() not in bytes(stored.secret_hash)
    assert token not in client.get(f"/o/{org.slug}/scim").get_data(as_text=True)
    scim = ScimClient(app.test_client(), token)
    assert scim.get("/Users").status_code == 200

    rotated = post(client, f"/o/{org.slug}/scim/tokens/{stored.id}/rotate", {"overlap": "1h"})
    assert rotated.status_code == 201
    new_token = _new_token(rotated.get_data(as_text=True))
    assert new_token != token
    assert scim.get("/Users").status_code == 200  # the old one, inside the overlap
    assert ScimClient(app.test_client(), new_token).get("/Users").status_code == 200
    expires = factories.execute("SELECT expires_at FROM org_credentials WHERE id = :i",
                                i=stored.id).scalar_one()
    assert timedelta(minutes=55) < expires - datetime.now(UTC) <= timedelta(hours=1)
    factories.execute("UPDATE org_credentials SET expires_at = now() WHERE id = :i", i=stored.id)
    assert scim.get("/Users").status_code == 401  # the overlap is over

    new_id = factories.execute(
        "SELECT id FROM org_credentials WHERE org_id = :o AND kind = 'scim' AND expires_at IS"
        " NULL AND revoked_at IS NULL AND name = 'Okta production'", o=org.id).scalar_one()
    revoked = post(client, f"/o/{org.slug}/scim/tokens/{new_id}/revoke")
    assert revoked.status_code == 303
    assert ScimClient(app.test_client(), new_token).get("/Users").status_code == 401
    actions = {r.action for r in factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o", o=org.id)}
    assert {"scim.token_create", "scim.token_rotate", "scim.token_revoke"} <= actions


def test_forms_need_csrf_and_another_orgs_token_is_not_found(org_admin):
    client, org, people, _, _ = org_admin
    other, _, _, _, other_credential = scim_org()
    login(client, people["owner"])
    assert client.post(f"/o/{org.slug}/scim/tokens", data={"name": "x"}).status_code == 400
    for action in ("revoke", "rotate"):
        response = post(client, f"/o/{org.slug}/scim/tokens/{other_credential}/{action}",
                        {"overlap": "1h"})
        assert response.status_code == 404
    assert factories.execute("SELECT revoked_at, expires_at FROM org_credentials WHERE id = :i",
                             i=other_credential).one() == (None, None)


def test_group_mapping_on_the_page_and_the_request_log(org_admin, app):
    client, org, people, domain, token = org_admin
    scim = ScimClient(app.test_client(), token)
    user = scim.create_user(f"mapped@{domain}")
    group = scim.create_group("Tenantdesk Admins", [user["id"]])
    assert scim.get("/Users/not-there").status_code == 404
    login(client, people["admin"])
    page = client.get(f"/o/{org.slug}/scim").get_data(as_text=True)
    assert "Tenantdesk Admins" in page and "POST /scim/v2/Users" in page
    assert "GET /scim/v2/Users/not-there" in page and "404" in page
    response = post(client, f"/o/{org.slug}/scim/groups/{group['id']}/role", {"role": "admin"})
    assert response.status_code == 303
    assert membership_role(org.id, person_id(f"mapped@{domain}")) == "admin"
    response = post(client, f"/o/{org.slug}/scim/groups/{group['id']}/role", {"role": "owner"})
    assert response.status_code == 400
    response = post(client, f"/o/{org.slug}/scim/groups/{group['id']}/role", {"role": ""})
    assert response.status_code == 303
    assert csrf_token  # imported helper used by post()


def test_operator_command_prints_a_working_token(database_urls, tmp_path, app):
    import os
    import subprocess
    import sys

    org, _, _, _, _ = scim_org()
    env = {**os.environ, "DATABASE_URL": database_urls.runtime,
           "MIGRATION_DATABASE_URL": database_urls.owner, "INSTANCE_PATH": str(tmp_path),
           "SECRET_KEY": app.config["SECRET_KEY"]}
    env.pop("API_KEY_HMAC_KEY", None)
    done = subprocess.run([sys.executable, "-m", "dashboard.cli", "scim-token", org.slug],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert ScimClient(app.test_client(), token).get("/Users").status_code == 200
    missing = subprocess.run([sys.executable, "-m", "dashboard.cli", "scim-token", "no-such-org"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "no-such-org" in missing.stderr
