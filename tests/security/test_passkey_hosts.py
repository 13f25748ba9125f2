"""Passkeys on org hosts: the WebAuthn relying party is the host the request resolved to (an
org's suffix host or verified custom domain), else the installation's, never whatever the
Host header says; each passkey is offered and accepted on its own relying party only.
(Real ceremonies in chromium: tests/e2e/test_passkeys_hosts.py.)"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit

import pytest
from webauthn.helpers import bytes_to_base64url

from tests import factories
from tests.helpers import csrf_from
from tests.support.hosts import OnHost, host_of, org_hosts


@pytest.fixture(autouse=True)
def _hosts_on(app):
    with org_hosts(app):
        yield


def _installation_rp(app) -> str:
    return app.config.get("WEBAUTHN_RP_ID") or urlsplit(app.config["BASE_URL"]).hostname


def _verified_domain(org) -> str:
    domain = f"login.{factories.unique('pk')}.example.com"
    factories.execute(
        "INSERT INTO custom_domains (org_id, domain, token, verified_at)"
        " VALUES (:o, :d, :t, now())", o=org.id, d=domain, t=secrets.token_hex(16))
    return domain


def _post_json(host: OnHost, path: str, body: dict | None = None):
    page = host.get("/account")  # signed in: the profile; else the sign-in page
    if page.status_code != 200:
        page = host.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return host.client.post(path, base_url=host.base, data=json.dumps(body or {}),
                            content_type="application/json", headers={"X-CSRFToken": token})


def _add_passkey(user, rp_id: str | None, name: str) -> bytes:
    credential_id = secrets.token_bytes(32)
    factories.execute(
        "INSERT INTO passkeys (user_id, credential_id, public_key, name, rp_id)"
        " VALUES (:u, :c, :k, :n, :r)", u=user.id, c=credential_id, k=b"not-a-key", n=name,
        r=rp_id)
    return credential_id


def test_the_rp_id_is_the_resolved_host_never_the_raw_header(app, client):
    acme, _ = factories.org_with_members(owner="owner")
    factories.put_on_plan(acme, "growth")
    domain = _verified_domain(acme)
    unverified = f"login.{factories.unique('nv')}.example.com"
    factories.execute("INSERT INTO custom_domains (org_id, domain, token)"
                      " VALUES (:o, :d, :t)", o=acme.id, d=unverified, t=secrets.token_hex(16))
    installation = _installation_rp(app)
    cases = {
        host_of(acme): host_of(acme),
        host_of(acme).upper() + ".": host_of(acme),  # normalised from the parsed host
        f"{host_of(acme)}:8443": host_of(acme),
        domain: domain,
        # Not hosts we serve for an org: the installation's relying party.
        "evil.example": installation,
        "nosuch-org.localhost": installation,
        unverified: installation,
        "127.0.0.1": installation,
        f"evil.example@{host_of(acme)}": installation,  # userinfo: not a plain host
    }
    for header, expected in cases.items():
        host = OnHost(client, header)
        response = _post_json(host, "/login/passkey/login/options")
        assert response.status_code == 200, (header, response.get_data(as_text=True))
        assert response.get_json()["rpId"] == expected, header


def test_the_signed_in_steps_answer_401_json_to_nobody(client):
    for step in ("reauth", "mfa"):
        response = _post_json(OnHost(client, "localhost"), f"/login/passkey/{step}/options")
        assert response.status_code == 401 and response.get_json()["error"]["message"]


def test_registration_options_name_this_host_and_exclude_only_its_passkeys(app, client):
    acme, people = factories.org_with_members(owner="owner")
    owner = people["owner"]
    host = OnHost(client, host_of(acme))
    assert host.login(owner).status_code in (302, 303)
    here = _add_passkey(owner, host_of(acme), "Here")
    _add_passkey(owner, None, "Installation (before the column)")
    options = _post_json(host, "/account/passkeys/options").get_json()
    assert options["rp"]["id"] == host_of(acme) and options["rp"]["name"] == acme.name
    assert [c["id"] for c in options["excludeCredentials"]] == [bytes_to_base64url(here)]


def test_sign_in_offers_only_the_passkeys_of_this_host(app, client):
    acme, people = factories.org_with_members(owner="owner")
    owner = people["owner"]
    globex, _ = factories.org_with_members(owner="owner")
    factories.MembershipFactory(org_id=globex.id, user_id=owner.id, role="member")
    acme_host = OnHost(client, host_of(acme))
    installation_host = OnHost(app.test_client(), "localhost")
    for host in (acme_host, installation_host):  # before any factor: no second step
        assert host.login(owner).status_code in (302, 303) and host.signed_in()
    on_acme = _add_passkey(owner, host_of(acme), "Acme laptop")
    legacy = _add_passkey(owner, None, "Old key")
    on_globex = _add_passkey(owner, host_of(globex), "Globex key")

    def offered(host: OnHost) -> set[str]:
        options = _post_json(host, "/login/passkey/reauth/options").get_json()
        return {c["id"] for c in options["allowCredentials"]}

    assert offered(acme_host) == {bytes_to_base64url(on_acme)}
    # The profile says where each one works.
    profile = acme_host.get("/account").get_data(as_text=True).replace("</span>", "<")
    assert f"works on {host_of(acme)} (this address)" in profile
    assert f"works on {_installation_rp(app)}<" in profile
    assert f"works on {host_of(globex)}<" in profile

    saved = app.config.get("WEBAUTHN_RP_ID")
    app.config["WEBAUTHN_RP_ID"] = "localhost"
    try:  # rows from before the column belong to the installation's relying party
        assert offered(installation_host) == {bytes_to_base64url(legacy)}
    finally:
        app.config["WEBAUTHN_RP_ID"] = saved
    assert bytes_to_base64url(on_globex) not in offered(acme_host) | offered(installation_host)


def test_a_passkey_of_host_a_is_refused_on_host_b_before_its_signature(app):
    acme, people = factories.org_with_members(owner="owner")
    owner = people["owner"]
    globex, _ = factories.org_with_members(owner="owner")
    factories.MembershipFactory(org_id=globex.id, user_id=owner.id, role="member")
    acme_key = _add_passkey(owner, host_of(acme), "Acme laptop")
    globex_host = OnHost(app.test_client(), host_of(globex))
    assert _post_json(globex_host, "/login/passkey/login/options").status_code == 200
    answer = {"id": bytes_to_base64url(acme_key), "rawId": bytes_to_base64url(acme_key),
              "type": "public-key", "response": {}}
    refused = _post_json(globex_host, "/login/passkey/login", answer)
    assert refused.status_code == 401
    assert "another address" in refused.get_json()["error"]["message"]
    assert not globex_host.signed_in()
    assert factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL", u=owner.id).scalar() == 0
