"""Rotating SECRET_KEY, the token key secret and the API key HMAC key logs nobody out: the
old value stays accepted (…_FALLBACKS) while new things are made with the new one."""

from __future__ import annotations

import secrets

import pytest

from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer
from tests.conftest import make_app
from tests.helpers import bearer_headers, login


@pytest.fixture
def apps(database_urls, tmp_path):
    made = []

    def make(**config):
        app = make_app(database_urls, tmp_path / str(len(made)), **config)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["tenantdesk.db"].dispose()


def _key_made_by(app, org) -> str:
    """An API key hashed with ``app``'s current HMAC key, as its web form would store it."""
    from dashboard.apikeys import tokens

    with app.app_context():
        from dashboard.apikeys.web import hmac_key

        key = hmac_key()
    prefix, secret, plaintext = tokens.generate()
    factories.execute(
        "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash, scopes)"
        " VALUES (:o, 'api_key', 'rotation', :p, :h, :s)",
        o=org.id, p=prefix, h=tokens.hash_secret(key, prefix, secret), s=all_scopes(),
    )
    return plaintext


def _status(app, key) -> int:
    return app.test_client().get("/api/v1/org", headers=bearer(key)).status_code


def test_api_key_hmac_key_rotation(apps):
    org, _ = api_org()
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    key = _key_made_by(apps(API_KEY_HMAC_KEY=old), org)
    assert _status(apps(API_KEY_HMAC_KEY=new, API_KEY_HMAC_KEY_FALLBACKS=[old]), key) == 200
    assert _status(apps(API_KEY_HMAC_KEY=new), key) == 401  # the fallback is what keeps it


def test_secret_key_rotation_keeps_browser_sessions_and_derived_api_keys(apps):
    org, people = api_org(owner="owner")
    old, new = secrets.token_urlsafe(40), secrets.token_urlsafe(40)
    before = apps(SECRET_KEY=old)
    browser = before.test_client()
    login(browser, people["owner"])
    key = _key_made_by(before, org)
    cookie = browser.get_cookie(before.config["SESSION_COOKIE_NAME"]).value

    after = apps(SECRET_KEY=new, SECRET_KEY_FALLBACKS=[old])
    returning = after.test_client()
    returning.set_cookie(after.config["SESSION_COOKIE_NAME"], cookie)
    assert returning.get(f"/o/{org.slug}/").status_code == 200
    assert _status(after, key) == 200

    forgetful = apps(SECRET_KEY=new)
    stranger = forgetful.test_client()
    stranger.set_cookie(forgetful.config["SESSION_COOKIE_NAME"], cookie)
    assert stranger.get(f"/o/{org.slug}/").status_code == 302
    assert _status(forgetful, key) == 401


def test_token_key_secret_rotation_keeps_signing_keys_readable(app, apps):
    org, people = factories.org_with_members(owner="owner")
    client = app.test_client()
    login(client, people["owner"])
    token = bearer_headers(client)  # signed with a key sealed under the suite's secret
    current = app.config["TOKEN_KEY_SECRET"]
    rotated = apps(TOKEN_KEY_SECRET="a-new-token-key-secret-" + "z" * 20,
                   TOKEN_KEY_SECRET_FALLBACKS=[current])
    assert rotated.test_client().get("/api/v1/me", headers=token).status_code == 200
    lost = apps(TOKEN_KEY_SECRET="a-new-token-key-secret-" + "z" * 20)
    assert lost.test_client().get("/api/v1/me", headers=token).status_code == 401
