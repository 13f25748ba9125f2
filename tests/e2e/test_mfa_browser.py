"""Second factors in a real browser: TOTP enrolment and sign-in with a code the test
computes; passkeys registered and used through chromium's virtual authenticator (DevTools
WebAuthn domain); an org that requires MFA sending a member to enrolment and in after."""

from __future__ import annotations

import json
import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import ORG_HOME, sign_in, sign_out

pytestmark = pytest.mark.e2e


def csp_watch(page) -> list[str]:
    violations = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    return violations


def set_up_totp(page) -> str:
    """From /account: scan (read the key), type a code, save the recovery codes."""
    page.goto("/account")
    page.get_by_role("link", name="Set up an authenticator app").click()
    expect(page.get_by_test_id("totp-qr").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_role("link", name="I saved them").click()
    return secret


def test_totp_enrolment_and_sign_in_with_a_computed_code(page):
    org, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    violations = csp_watch(page)
    sign_in(page, user)
    secret = set_up_totp(page)
    sign_out(page)

    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    # The next 30-second step: enrolment spent the current one (each code works once).
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(ORG_HOME)
    expect(page.get_by_test_id("active-org")).to_have_text(org.name)
    assert violations == []


def test_org_requiring_mfa_sends_a_member_to_enrolment_and_in_after(page):
    org, people = factories.org_with_members(owner="owner", member="member")
    factories.execute("UPDATE organizations SET settings = settings || "
                      "'{\"security\": {\"require_mfa\": true}}' WHERE id = :o", o=org.id)
    violations = csp_watch(page)
    page.goto("/login")
    page.get_by_label("Email").fill(people["member"].email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/account"))
    expect(page.get_by_text("requires two-factor authentication")).to_be_visible()
    page.get_by_role("link", name="Set up an authenticator app").click()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("link", name="I saved them").click()
    page.wait_for_url(re.compile(rf"/o/{org.slug}/"))
    expect(page.get_by_test_id("active-org")).to_have_text(org.name)
    assert violations == []


@pytest.fixture
def passkey_site(live_server):
    """WebAuthn needs a domain, not 127.0.0.1: the browser uses localhost for these tests."""
    port = live_server.url.rsplit(":", 1)[1]
    origin = f"http://localhost:{port}"
    config = live_server.app.config
    saved = config.get("WEBAUTHN_RP_ID"), config.get("WEBAUTHN_ORIGIN")
    config["WEBAUTHN_RP_ID"], config["WEBAUTHN_ORIGIN"] = "localhost", origin
    yield origin
    config["WEBAUTHN_RP_ID"], config["WEBAUTHN_ORIGIN"] = saved


def virtual_authenticator(context, page) -> dict:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return {"cdp": cdp, "id": made["authenticatorId"]}


def register_passkey(page, name="Test laptop"):
    page.goto("/account")
    page.get_by_label("Passkey name").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Your passkey is saved")).to_be_visible()
    expect(page.get_by_test_id("passkeys")).to_contain_text(name)


def test_passkey_registered_and_used_to_sign_in(new_context, passkey_site):
    org, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    context = new_context(base_url=passkey_site)
    page = context.new_page()
    authenticator = virtual_authenticator(context, page)
    violations = csp_watch(page)
    sign_in(page, user)
    register_passkey(page)
    credentials = authenticator["cdp"].send(
        "WebAuthn.getCredentials", {"authenticatorId": authenticator["id"]})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
    sign_out(page)

    page.get_by_role("button", name="Use a passkey instead").click()  # no email, no password
    page.wait_for_url(ORG_HOME)
    expect(page.get_by_test_id("active-org")).to_have_text(org.name)
    assert factories.execute(
        "SELECT mfa_method FROM user_sessions WHERE user_id = :u AND revoked_at IS NULL"
        " ORDER BY created_at DESC LIMIT 1", u=user.id).scalar() == "passkey"
    assert factories.execute("SELECT sign_count FROM passkeys WHERE user_id = :u",
                             u=user.id).scalar() >= 1

    sign_out(page)  # and as the second factor after the password
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(ORG_HOME)
    assert violations == []


ASSERT_WITH_ANY_PASSKEY = """
async ({optionsUrl, finishUrl}) => {
  const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  const headers = {"Content-Type": "application/json", "X-CSRFToken": csrf};
  const dec = s => Uint8Array.from(
    atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)),
    c => c.charCodeAt(0));
  const enc = b => btoa(String.fromCharCode(...new Uint8Array(b)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const options = await (await fetch(optionsUrl, {method: "POST", headers, body: "{}"})).json();
  const cred = await navigator.credentials.get({publicKey: {
    challenge: dec(options.challenge), rpId: options.rpId, allowCredentials: [],
    userVerification: "preferred"}});
  const r = cred.response;
  const body = {id: cred.id, rawId: enc(cred.rawId), type: cred.type,
    clientExtensionResults: {}, response: {clientDataJSON: enc(r.clientDataJSON),
      authenticatorData: enc(r.authenticatorData), signature: enc(r.signature),
      userHandle: r.userHandle ? enc(r.userHandle) : null}};
  const answer = await fetch(finishUrl, {method: "POST", headers, body: JSON.stringify(body)});
  return {status: answer.status, body: await answer.text()};
}
"""


def test_a_passkey_of_a_cannot_sign_in_as_b(new_context, passkey_site, live_server):
    from dashboard.accounts import mfa

    org, people = factories.org_with_members(alice="member", bob="member")
    context = new_context(base_url=passkey_site)
    page = context.new_page()
    virtual_authenticator(context, page)
    sign_in(page, people["alice"])
    register_passkey(page, "Alice's key")
    sign_out(page)
    # Bob has an authenticator app, so his password leads to the second-factor step.
    sealed = mfa._seal(live_server.app.config["SECRET_KEY"], pyotp.random_base32())
    factories.execute("INSERT INTO mfa_totp (user_id, secret_enc, confirmed_at)"
                      " VALUES (:u, :s, now())", u=people["bob"].id, s=sealed)
    page.goto("/login")
    page.get_by_label("Email").fill(people["bob"].email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    # Alice's passkey answers Bob's second-factor challenge: refused.
    result = page.evaluate(ASSERT_WITH_ANY_PASSKEY, {
        "optionsUrl": "/login/passkey/mfa/options", "finishUrl": "/login/passkey/mfa"})
    assert result["status"] == 401, result
    assert "another account" in json.loads(result["body"])["error"]["message"]
    page.goto("/switcher")
    expect(page).to_have_url(re.compile(r"/login"))  # nobody is signed in
    assert factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL", u=people["bob"].id).scalar() == 0
