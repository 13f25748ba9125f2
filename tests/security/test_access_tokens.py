"""Org-scoped access tokens (JWT): issued from the browser session, verified by an independent
JOSE library (PyJWT; joserfc signs) against the published JWKS, and refused - 401 JSON, never
a 500 - when forged, tampered with, expired, signed by an unknown key or from a session that
has ended (a switch ends it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey

from dashboard.auth import access_tokens
from tests import factories
from tests.helpers import csrf_token, login, post

AUDIENCE = "tenantdesk-api"


@pytest.fixture
def member():
    org_a, people = factories.org_with_members(me="admin", owner="owner")
    org_b = factories.OrgFactory()
    factories.MembershipFactory(org_id=org_b.id, user_id=people["me"].id, role="guest")
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org_a.id,
                      u=people["me"].id)
    return people["me"], org_a, org_b


def mint(client, **data):
    token = csrf_token(client, "/switcher")
    return client.post("/auth/token", data=data, headers={"X-CSRFToken": token})


def token_for(client) -> str:
    response = mint(client)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def assert_refused(response, code=None):
    assert response.status_code == 401
    body = response.get_json()
    assert set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token):
    header, payload, signature = token.split(".")
    decode = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
    return decode(header), decode(payload), signature


def jwks(client) -> dict:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "public" in response.headers["Cache-Control"]
    return response.get_json()


def pyjwt_verify(client, app, token):
    """Independent verification: PyJWT, the published JWKS, nothing from our code."""
    kid = pyjwt.get_unverified_header(token)["kid"]
    keys = {key.key_id: key for key in pyjwt.PyJWKSet.from_dict(jwks(client)).keys}
    return pyjwt.decode(
        token, keys[kid].key, algorithms=["ES256"], audience=AUDIENCE,
        issuer=app.config["BASE_URL"],
    )


# --------------------------------------------------------------------------- issuing


def test_token_is_verified_by_an_independent_library(client, app, member):
    user, org_a, _ = member
    login(client, user)
    response = mint(client)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    claims = pyjwt_verify(client, app, body["access_token"])
    with client.session_transaction() as session:
        sid = session["_user_id"]
    assert claims["sub"] == str(user.id)
    assert claims["org_id"] == str(org_a.id) and claims["org_slug"] == org_a.slug
    assert claims["role"] == "admin" and claims["sid"] == sid
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iss"] == app.config["BASE_URL"] and claims["aud"] == AUDIENCE
    header, _, _ = segments(body["access_token"])
    assert header["alg"] == "ES256"
    published = jwks(client)["keys"]
    assert all("d" not in key for key in published)  # never the private part
    assert header["kid"] in {key["kid"] for key in published}


def test_token_endpoint_needs_a_session_csrf_and_an_active_org(client, member):
    user, _, _ = member
    anonymous = client.post("/auth/token")
    assert anonymous.status_code in (400, 401) and "error" in anonymous.get_json()
    login(client, user)
    no_csrf = client.post("/auth/token")
    assert no_csrf.status_code == 400
    assert no_csrf.get_json()["error"]["code"] == "csrf_failed"
    loner = factories.UserFactory()
    other = client.application.test_client()
    login(other, loner)
    assert mint(other).status_code == 409


def test_token_endpoint_refuses_when_another_tab_switched(client, member):
    user, org_a, org_b = member
    login(client, user)
    post(client, "/switch", {"slug": org_b.slug})
    response = mint(client, org=org_a.slug)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "org_switched"
    assert mint(client, org=org_b.slug).status_code == 200


# --------------------------------------------------------------------------- using


def test_api_me_answers_for_the_token_and_reads_the_role_now(client, member):
    user, org_a, _ = member
    login(client, user)
    token = token_for(client)
    api = client.application.test_client()  # no cookie at all: the bearer token alone
    response = me(api, token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["id"] == str(user.id) and body["user"]["email"] == user.email
    assert body["org"]["slug"] == org_a.slug and body["org"]["role"] == "admin"
    assert "members.invite" in body["org"]["permissions"]
    factories.execute("UPDATE memberships SET role = 'member' WHERE org_id = :o AND user_id = :u",
                      o=org_a.id, u=user.id)
    body = me(api, token).get_json()
    assert body["org"]["role"] == "member" and "members.invite" not in body["org"]["permissions"]
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org_a.id, u=user.id)
    assert_refused(me(api, token), "token_revoked")


def test_api_me_needs_a_bearer_token_and_the_token_alone_decides(client, member):
    user, org_a, org_b = member
    login(client, user)
    assert_refused(client.get("/api/v1/me"), "missing_token")  # the cookie is not enough
    token_a = token_for(client)
    post(client, "/switch", {"slug": org_b.slug})
    token_b = token_for(client)
    # The cookie now says B; a token for B answers B, a bad token is not "saved" by it.
    assert me(client, token_b).get_json()["org"]["slug"] == org_b.slug
    assert_refused(me(client, token_a), "token_revoked")
    assert_refused(me(client, token_b[:-4] + "AAAA"), "invalid_token")


def test_a_switch_makes_earlier_tokens_unusable(client, member):
    user, org_a, org_b = member
    login(client, user)
    before = token_for(client)
    assert me(client, before).status_code == 200
    post(client, "/switch", {"slug": org_b.slug})
    assert_refused(me(client, before), "token_revoked")
    after = token_for(client)
    body = me(client, after).get_json()
    assert body["org"]["slug"] == org_b.slug and body["org"]["role"] == "guest"


def test_signing_out_and_revoking_make_tokens_unusable(client, member):
    user, _, _ = member
    login(client, user)
    token = token_for(client)
    post(client, "/logout")
    assert_refused(me(client, token), "token_revoked")
    login(client, user)
    token = token_for(client)
    with client.session_transaction() as session:
        sid = session["_user_id"]
    post(client, f"/account/sessions/{sid}/revoke")
    assert_refused(me(client, token), "token_revoked")


def test_deactivated_user_and_suspended_org_tokens_are_refused(client, member):
    user, org_a, _ = member
    login(client, user)
    token = token_for(client)
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=org_a.id)
    assert_refused(me(client, token))
    factories.execute("UPDATE organizations SET status = 'active' WHERE id = :o", o=org_a.id)
    assert me(client, token).status_code == 200
    factories.execute("UPDATE users SET is_active = false WHERE id = :u", u=user.id)
    assert_refused(me(client, token), "token_revoked")


# --------------------------------------------------------------------------- forgeries


def test_garbage_tokens_are_401_json_never_500(client):
    for value in ["", "abc", "a.b.c", "a.b", "....", "eyJhbGciOiJFUzI1NiJ9.e30.", "é.é.é",
                  "x" * 5000 + ".y.z", "null.null.null"]:
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"})
        assert response.status_code == 401, value
        assert "error" in response.get_json()


def test_tampered_token_is_refused(client, member):
    user, org_a, org_b = member
    login(client, user)
    token = token_for(client)
    header, payload, signature = token.split(".")
    claims = segments(token)[1]
    for change in ({"org_id": str(org_b.id), "org_slug": org_b.slug}, {"role": "owner"},
                   {"exp": claims["exp"] + 3600}, {"sub": str(factories.UserFactory().id)}):
        forged = ".".join([header, b64(json.dumps({**claims, **change}).encode()), signature])
        assert_refused(me(client, forged), "invalid_token")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_refused(me(client, f"{header}.{payload}.{flipped}"), "invalid_token")


def test_alg_none_and_hs256_with_the_public_key_are_refused(client, member):
    user, _, _ = member
    login(client, user)
    token = token_for(client)
    header, claims, _ = segments(token)
    body = b64(json.dumps(claims).encode())

    for alg in ("none", "None", "NONE"):
        unsigned = b64(json.dumps({**header, "alg": alg}).encode()) + "." + body + "."
        assert_refused(me(client, unsigned), "invalid_token")

    published = next(k for k in jwks(client)["keys"] if k["kid"] == header["kid"])
    public = ECKey.import_key(published).get_op_key("verify")
    secrets_to_try = [
        public.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(published).encode(),
    ]
    for secret in secrets_to_try:
        signing_input = b64(json.dumps({**header, "alg": "HS256"}).encode()) + "." + body
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert_refused(me(client, signing_input + "." + b64(mac)), "invalid_token")


def test_unknown_kid_and_foreign_key_are_refused(client, member):
    user, _, _ = member
    login(client, user)
    claims = segments(token_for(client))[1]
    stranger = ECKey.generate_key("P-256", private=True)
    for kid in ("unknown-kid-123", segments(token_for(client))[0]["kid"]):
        forged = joserfc_jwt.encode({"alg": "ES256", "kid": kid}, claims, stranger)
        assert_refused(me(client, forged), "invalid_token")
    no_kid = joserfc_jwt.encode({"alg": "ES256"}, claims, stranger)
    assert_refused(me(client, no_kid), "invalid_token")


def test_expired_and_wrong_audience_tokens_are_refused(client, app, member):
    user, org_a, _ = member
    login(client, user)
    with client.session_transaction() as session:
        sid = session["_user_id"]
    keyring = access_tokens.keyring_for(app)
    common = dict(user_id=user.id, org_id=org_a.id, org_slug=org_a.slug, role="admin",
                  session_id=sid, ttl=300)
    expired = access_tokens.issue(keyring, issuer=app.config["BASE_URL"], audience=AUDIENCE,
                                  now=int(time.time()) - 3600, **common)
    assert_refused(me(client, expired.token), "token_expired")
    elsewhere = access_tokens.issue(keyring, issuer=app.config["BASE_URL"],
                                    audience="another-service", **common)
    assert_refused(me(client, elsewhere.token), "invalid_token")
    other_issuer = access_tokens.issue(keyring, issuer="https://evil.example", audience=AUDIENCE,
                                       **common)
    assert_refused(me(client, other_issuer.token), "invalid_token")
    future = access_tokens.issue(keyring, issuer=app.config["BASE_URL"], audience=AUDIENCE,
                                 now=int(time.time()) + 3600, **common)
    assert_refused(me(client, future.token), "invalid_token")
    fine = access_tokens.issue(keyring, issuer=app.config["BASE_URL"], audience=AUDIENCE,
                               **common)
    assert me(client, fine.token).status_code == 200


def test_verifier_function_for_api_code(app, client, member):
    user, org_a, _ = member
    login(client, user)
    token = token_for(client)
    with app.app_context():
        claims = access_tokens.verify_access_token(token)
        assert claims.user_id == user.id and claims.org_id == org_a.id
        with pytest.raises(access_tokens.InvalidAccessToken):
            access_tokens.verify_access_token(token[:-4] + "AAAA")


# --------------------------------------------------------------------------- rotation


def test_rotation_keeps_old_tokens_valid_and_new_ones_use_the_new_key(client, app, member):
    user, _, _ = member
    login(client, user)
    old = token_for(client)
    old_kid = segments(old)[0]["kid"]
    keyring = access_tokens.keyring_for(app)
    new_kid = keyring.rotate()
    assert new_kid != old_kid

    new = token_for(client)
    assert segments(new)[0]["kid"] == new_kid
    published = [key["kid"] for key in jwks(client)["keys"]]
    assert published[0] == new_kid and old_kid in published
    for token in (old, new):
        assert me(client, token).status_code == 200
        pyjwt_verify(client, app, token)
    # Nobody was logged out by the rotation.
    assert client.get("/switcher").status_code == 200

    # Once a retired key has aged out of the JWKS, its tokens are refused.
    factories.execute(
        "UPDATE signing_keys SET retired_at = now() - interval '2 days' WHERE kid = :k",
        k=old_kid,
    )
    keyring.refresh()
    assert old_kid not in [key["kid"] for key in jwks(client)["keys"]]
    assert_refused(me(client, old), "invalid_token")
    assert me(client, new).status_code == 200


def test_a_key_row_written_without_the_secret_is_never_trusted(client, app, member):
    """Someone with INSERT on signing_keys but not the secret cannot plant a key."""
    user, _, _ = member
    login(client, user)
    claims = segments(token_for(client))[1]
    planted = ECKey.generate_key("P-256", private=True)
    der = planted.get_op_key("sign").private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    factories.execute(
        "INSERT INTO signing_keys (kid, alg, private_key_enc, retired_at)"
        " VALUES ('planted-key-0001', 'ES256', :p, now())", p=b"\x00" * 12 + der,
    )
    access_tokens.keyring_for(app).refresh()
    assert "planted-key-0001" not in [key["kid"] for key in jwks(client)["keys"]]
    forged = joserfc_jwt.encode({"alg": "ES256", "kid": "planted-key-0001"}, claims, planted)
    assert_refused(me(client, forged), "invalid_token")
