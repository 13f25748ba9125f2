"""The API keys page: who may use it, the secret shown once, hashes only, audit, revoke."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from dashboard.apikeys import tokens
from tests import factories
from tests.api.conftest import api_org
from tests.helpers import login, post

KEY_RE = re.compile(r"td_live_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


def keys_of(org):
    return factories.execute(
        "SELECT id, name, prefix, secret_hash, scopes, created_by, expires_at, revoked_at"
        " FROM org_credentials WHERE org_id = :o AND kind = 'api_key' ORDER BY created_at",
        o=org.id,
    ).all()


def audit_of(org, action):
    return factories.execute(
        "SELECT actor, target, details FROM audit_events WHERE org_id = :o AND action = :a",
        o=org.id, a=action,
    ).all()


def test_only_holders_of_apikeys_manage_see_the_page(client):
    org, people = api_org("starter", admin="admin", bob="member")
    login(client, people["bob"])
    assert client.get(f"/o/{org.slug}/api-keys").status_code == 403
    assert post(client, f"/o/{org.slug}/api-keys", {"name": "x"}).status_code == 403
    assert keys_of(org) == []
    client.post("/logout", data={})
    login(client, people["admin"])
    page = client.get(f"/o/{org.slug}/api-keys")
    assert page.status_code == 200
    assert "Create a key" in page.get_data(as_text=True)


def test_create_shows_the_secret_once_and_stores_only_its_hmac(client, app):
    org, people = api_org("starter", owner="owner")
    login(client, people["owner"])
    expiry = date.today() + timedelta(days=30)
    created = post(client, f"/o/{org.slug}/api-keys", {
        "name": "billing sync", "scopes": ["members:read", "audit:read"],
        "expires": expiry.isoformat(),
    })
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    plaintext = KEY_RE.search(html).group(0)
    assert created.headers["Cache-Control"] == "no-store"
    (row,) = keys_of(org)
    parsed = tokens.parse(plaintext)
    assert row.prefix == parsed.prefix and row.name == "billing sync"
    assert row.scopes == ["members:read", "audit:read"]
    assert row.created_by == people["owner"].id
    assert row.expires_at.date() == expiry
    assert bytes(row.secret_hash) == tokens.hash_secret(
        factories._state["api_key_hmac"], parsed.prefix, parsed.secret
    )
    assert parsed.secret.encode() not in bytes(row.secret_hash)
    # Shown once: the list afterwards has the prefix, never the secret.
    listing = client.get(f"/o/{org.slug}/api-keys").get_data(as_text=True)
    assert parsed.prefix in listing and parsed.secret not in listing
    assert "billing sync" in listing and people["owner"].email in listing
    (audit,) = audit_of(org, "apikey.create")
    assert audit.actor == people["owner"].email
    assert audit.target == f"apikey:{parsed.prefix}"
    assert audit.details["after"]["scopes"] == ["members:read", "audit:read"]
    assert parsed.secret not in str(audit.details)


def test_bad_input_is_a_form_error_and_creates_nothing(client):
    org, people = api_org("starter", owner="owner")
    login(client, people["owner"])
    for data in [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "ok", "scopes": ["members:admin"]},
        {"name": "ok", "scopes": ["org:read"]},
        {"name": "ok", "expires": "2001-01-01"},
        {"name": "ok", "expires": "not a date"},
    ]:
        response = post(client, f"/o/{org.slug}/api-keys", data)
        assert response.status_code == 400, data
        assert 'class="field-error"' in response.get_data(as_text=True), data
    assert keys_of(org) == []
    assert audit_of(org, "apikey.create") == []


def test_revoke_is_audited_and_another_orgs_key_is_a_404(client):
    org, people = api_org("starter", owner="owner")
    other, _ = api_org("starter", owner="owner")
    _, mine = factories.api_key(org, ["members:read"], name="mine")
    _, theirs = factories.api_key(other, ["members:read"], name="theirs")
    login(client, people["owner"])
    foreign = post(client, f"/o/{org.slug}/api-keys/{theirs}/revoke")
    assert foreign.status_code == 404
    assert post(client, f"/o/{org.slug}/api-keys/{uuid.uuid4()}/revoke").status_code == 404
    assert post(client, f"/o/{org.slug}/api-keys/not-a-uuid/revoke").status_code == 404
    assert keys_of(other)[0].revoked_at is None
    assert "theirs" not in foreign.get_data(as_text=True)
    done = post(client, f"/o/{org.slug}/api-keys/{mine}/revoke")
    assert done.status_code == 303
    assert keys_of(org)[0].revoked_at is not None
    (audit,) = audit_of(org, "apikey.revoke")
    assert audit.details["before"]["name"] == "mine"
    page = client.get(f"/o/{org.slug}/api-keys").get_data(as_text=True)
    assert "revoked" in page


def test_revoke_without_csrf_is_refused(client):
    org, people = api_org("starter", owner="owner")
    _, mine = factories.api_key(org, [], name="mine")
    login(client, people["owner"])
    response = client.post(f"/o/{org.slug}/api-keys/{mine}/revoke")
    assert response.status_code == 400
    assert keys_of(org)[0].revoked_at is None


def test_without_api_access_on_the_plan_keys_cannot_be_created(client):
    org, people = factories.org_with_members(owner="owner")  # free plan
    login(client, people["owner"])
    page = client.get(f"/o/{org.slug}/api-keys")
    assert page.status_code == 200
    assert "does not include API access" in page.get_data(as_text=True)
    assert post(client, f"/o/{org.slug}/api-keys", {"name": "x"}).status_code == 403
    assert keys_of(org) == []
