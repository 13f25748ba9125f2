"""OIDC sign-in end to end: the real start and callback endpoints against a real OpenID
provider on loopback (tests/support/oidc_op.py). Refusals start from real tokens the OP
signed, tampered in one way each (issuer, audience, nonce, alg, key, email_verified)."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from dashboard.sso import crypto
from tests import factories
from tests.helpers import csrf_token, login
from tests.support.oidc_op import TestOP, new_key
from tests.support.sso import audit_actions, session_row, start

SECRET = "op-client-secret-" + "x" * 16


@pytest.fixture(scope="module")
def op():
    with TestOP() as provider:
        yield provider


@pytest.fixture
def setup(app, op):
    op.tamper = {}
    org, people = factories.org_with_members(owner="owner", admin="admin")
    factories.put_on_plan(org, "enterprise")
    domain = factories.SsoDomainFactory(org_id=org.id).domain
    client_id = f"tenantdesk-{secrets.token_hex(4)}"
    conn = factories.SsoConnectionFactory.build(org_id=org.id, kind="oidc", config={
        "issuer": op.issuer, "client_id": client_id, "scopes": "openid email profile"})
    conn.client_secret = crypto.seal(crypto.key_from_config(app.config), SECRET, str(conn.id))
    factories.SsoConnectionFactory._meta.sqlalchemy_session.add(conn)
    factories.SsoConnectionFactory._meta.sqlalchemy_session.commit()
    op.register(client_id, SECRET, f"http://127.0.0.1:5000/sso/oidc/{conn.id}/callback")
    op.user = {"sub": f"sub-{secrets.token_hex(4)}", "email": f"alice@{domain}",
               "email_verified": True, "name": "Alice Example"}

    class Setup:
        pass

    s = Setup()
    s.org, s.people, s.conn, s.domain, s.op = org, people, conn, domain, op
    return s


def at_provider(url: str) -> str:
    """What the browser does at the OP: follow the authorize URL, come back with a redirect."""
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def callback(client, location: str):
    parts = urlsplit(location)
    return client.get(parts.path, query_string=dict(parse_qsl(parts.query)))


def oidc_login(client, setup):
    return callback(client, at_provider(start(client, setup.conn.id)))


def assert_refused(response, reason: str):
    page = response.get_data(as_text=True)
    assert response.status_code in (400, 502), page[:300]
    assert "Single sign-on did not sign you in" in page
    assert reason in page, page[page.find("<main"):][:800]


def test_login_provisions_the_user(client, setup):
    response = oidc_login(client, setup)
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    assert response.headers["Location"].endswith(f"/o/{setup.org.slug}/")
    row = session_row(client)
    assert row.auth_method == "sso" and row.org_id == setup.org.id
    identity = factories.execute(
        "SELECT issuer, subject FROM sso_identities WHERE connection_id = :c",
        c=setup.conn.id).one()
    assert identity.issuer == setup.op.issuer and identity.subject == setup.op.user["sub"]
    assert "sso.login" in [a for a, _ in audit_actions(setup.org.id)]


def test_authorize_request_uses_pkce_state_and_nonce(client, setup):
    query = dict(parse_qsl(urlsplit(start(client, setup.conn.id)).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"] and "code_verifier" not in query


def test_state_mismatch_is_refused(client, setup):
    location = at_provider(start(client, setup.conn.id))
    forged = location.replace("state=", "state=x")
    before = audit_actions(setup.org.id)
    assert_refused(callback(client, forged), "not started in this browser")
    assert session_row(client) is None
    assert audit_actions(setup.org.id) == before  # a GET without our state writes nothing


def test_callback_in_a_browser_that_did_not_start_it_is_refused(app, client, setup):
    location = at_provider(start(client, setup.conn.id))
    victim = app.test_client()
    assert_refused(callback(victim, location), "not started in this browser")
    assert session_row(victim) is None


def test_replayed_callback_is_refused(client, setup):
    location = at_provider(start(client, setup.conn.id))
    assert callback(client, location).status_code == 303
    assert_refused(callback(client, location), "not started in this browser")


def tamper_nonce(setup):
    setup.op.tamper = {"nonce": "some-other-nonce"}


def replay_old_token(setup):
    """A real ID token from an earlier login (its nonce belonged to that login)."""
    setup.op.tamper = {"id_token": setup.op.issued[-1]}


def wrong_issuer(setup):
    setup.op.tamper = {"iss": "https://evil-op.example.test"}


def wrong_audience(setup):
    setup.op.tamper = {"aud": "another-client"}


def alg_none(setup):
    setup.op.tamper = {"alg": "none"}


def unknown_key(setup):
    setup.op.tamper = {"key": new_key("attacker-1")}


def known_kid_other_key(setup):
    setup.op.tamper = {"key": new_key("op-1")}


def expired(setup):
    setup.op.tamper = {"age": 3600}


def email_not_verified(setup):
    setup.op.tamper = {"claims": {"email_verified": False}}


def email_verified_as_string(setup):
    setup.op.tamper = {"claims": {"email_verified": "true"}}


REFUSALS = {
    "nonce mismatch": (tamper_nonce, "ID token was refused"),
    "nonce replay (an old ID token)": (replay_old_token, "ID token was refused"),
    "wrong issuer": (wrong_issuer, "ID token was refused"),
    "wrong audience": (wrong_audience, "ID token was refused"),
    "alg none": (alg_none, "ID token was refused"),
    "unknown signing key": (unknown_key, "ID token was refused"),
    "another key under the known kid": (known_kid_other_key, "ID token was refused"),
    "expired": (expired, "ID token was refused"),
    "email_verified false": (email_not_verified, "no verified email"),
    "email_verified as a string": (email_verified_as_string, "no verified email"),
}


@pytest.mark.parametrize("attack", REFUSALS)
def test_bad_id_token_is_refused(app, client, setup, attack):
    tamper, reason = REFUSALS[attack]
    if attack.startswith("nonce replay"):
        oidc_login(app.test_client(), setup)  # an earlier, good login
    tamper(setup)
    response = oidc_login(client, setup)
    assert_refused(response, reason)
    assert session_row(client) is None
    failures = [d["reason"] for a, d in audit_actions(setup.org.id) if a == "sso.login_failed"]
    assert failures and reason.split()[0] in failures[-1]
    assert SECRET not in str(failures)


def test_existing_account_email_from_the_op_does_not_sign_in(app, client, setup):
    other_org, others = factories.org_with_members(owner="owner")
    setup.op.user["email"] = others["owner"].email  # another org's owner, another domain
    assert_refused(oidc_login(client, setup), "domain is not verified")
    # Even at this org's verified domain: an existing account needs its password to link.
    owner_elsewhere = factories.UserFactory(email=f"boss@{setup.domain}")
    factories.MembershipFactory(org_id=other_org.id, user_id=owner_elsewhere.id, role="owner")
    setup.op.user.update(sub="attacker-sub", email=owner_elsewhere.email)
    response = oidc_login(app.test_client(), setup)
    assert response.status_code == 303 and response.headers["Location"].endswith("/sso/link")
    assert session_row(client) is None


def test_identity_is_issuer_and_subject_not_email(app, client, setup):
    oidc_login(client, setup)
    first = session_row(client).user_id
    setup.op.user["email"] = f"renamed@{setup.domain}"  # same sub, new email
    again = app.test_client()
    oidc_login(again, setup)
    assert session_row(again).user_id == first


def test_client_secret_is_encrypted_at_rest(setup):
    stored = factories.execute("SELECT client_secret FROM sso_connections WHERE id = :c",
                               c=setup.conn.id).scalar()
    assert SECRET.encode() not in bytes(stored)


def test_settings_check_the_issuer_by_discovery(client, op):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")
    login(client, people["owner"])
    token = csrf_token(client, f"/o/{org.slug}/sso")
    op.tamper = {"discovery_issuer": "https://someone-else.example.test"}
    response = client.post(f"/o/{org.slug}/sso/oidc", data={
        "csrf_token": token, "issuer": op.issuer, "client_id": "c", "client_secret": "s3cret"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "names another issuer" in page
    assert factories.execute("SELECT count(*) FROM sso_connections WHERE org_id = :o",
                             o=org.id).scalar() == 0
    op.tamper = {}
    response = client.post(f"/o/{org.slug}/sso/oidc", data={
        "csrf_token": token, "issuer": op.issuer, "client_id": "c", "client_secret": "s3cret",
        "scopes": "email"})
    assert response.status_code == 303
    row = factories.execute("SELECT config, client_secret FROM sso_connections WHERE org_id = :o",
                            o=org.id).one()
    assert row.config["scopes"] == "openid email" and b"s3cret" not in bytes(row.client_secret)
    actions = audit_actions(org.id)
    assert ("sso.connection_created" in [a for a, _ in actions])
    assert "s3cret" not in str(actions)


def test_unreachable_issuer_is_a_form_error(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")
    login(client, people["owner"])
    token = csrf_token(client, f"/o/{org.slug}/sso")
    response = client.post(f"/o/{org.slug}/sso/oidc", data={
        "csrf_token": token, "issuer": "http://127.0.0.1:9/", "client_id": "c",
        "client_secret": "s"})
    assert response.status_code == 400
    assert "Could not connect" in response.get_data(as_text=True)
