"""Passkeys on every host a person can be on, through chromium's virtual authenticator: the
installation's host (localhost), an org's suffix host (<slug>.localhost) and an org's verified
custom domain. A passkey is made for the host it was registered on, works there (sign-in,
second factor, step-up), and is refused on any other host even when the answer is hand-made.
Chromium maps the test names to loopback (``--host-resolver-rules``); the custom domain is
plain http here, so it is declared a secure origin for the test (WebAuthn needs one)."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.conftest import TEST_PASSWORD, make_app
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.e2e.test_mfa_browser import csp_watch, virtual_authenticator
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e
DOMAIN = f"login.{secrets.token_hex(4)}.example.com"  # Acme's custom domain in this module


@pytest.fixture(scope="module")
def server(database_urls, tmp_path_factory, smtp_server):
    """Org hosts on; the installation's relying party is localhost (127.0.0.1 is an IP)."""
    def build(url):
        port = url.rsplit(":", 1)[1]
        return make_app(database_urls, tmp_path_factory.mktemp("passkey-hosts"), BASE_URL=url,
                        SMTP_URL=smtp_server.url, TENANT_HOST_SUFFIX=".localhost",
                        WEBAUTHN_RP_ID="localhost", WEBAUTHN_ORIGIN=f"http://localhost:{port}")
    live = LiveServer().start(build)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def hosts_browser(_playwright, server):
    if not CHROMIUM.exists():
        pytest.skip("chromium missing")
    port = server.url.rsplit(":", 1)[1]
    browser = _playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP *.localhost 127.0.0.1, "
              "MAP *.example.com 127.0.0.1",
              f"--unsafely-treat-insecure-origin-as-secure=http://{DOMAIN}:{port}"])
    yield browser
    browser.close()


@pytest.fixture
def page(hosts_browser):
    context = hosts_browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.authenticator = virtual_authenticator(context, page)
    yield page
    context.close()


def on(server, host: str, path: str = "/") -> str:
    return f"http://{host}:{server.url.rsplit(':', 1)[1]}{path}"


def password_sign_in(page, url: str, user) -> None:
    page.goto(url)
    page.get_by_label("Email").fill(user.email)
    continue_button = page.get_by_role("button", name="Continue")
    if continue_button.count():  # the installation's sign-in asks for the email first
        continue_button.click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name=re.compile("^Sign in$|^Sign in with a password$")).click()


def register_passkey(page, base: str, name: str) -> None:
    page.goto(base + "/account")
    page.get_by_label("Passkey name").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Your passkey is saved")).to_be_visible()
    expect(page.get_by_test_id("passkeys")).to_contain_text(name)


def sign_out(page) -> None:
    page.get_by_label(re.compile("^Account menu")).click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))


def stored_rp_ids(user) -> list[str | None]:
    return list(factories.execute("SELECT rp_id FROM passkeys WHERE user_id = :u",
                                  u=user.id).scalars())


def last_session_method(user) -> str | None:
    return factories.execute(
        "SELECT mfa_method FROM user_sessions WHERE user_id = :u AND revoked_at IS NULL"
        " ORDER BY created_at DESC LIMIT 1", u=user.id).scalar()


def test_a_passkey_made_on_an_org_host_signs_in_and_steps_up_there(server, page):
    acme, people = factories.org_with_members(owner="owner")
    owner = people["owner"]
    host = f"{acme.slug}.localhost"
    base = on(server, host)[:-1]
    violations = csp_watch(page)
    password_sign_in(page, base + "/login", owner)
    page.wait_for_url(re.compile(rf"/o/{acme.slug}/"))
    register_passkey(page, base, "Acme laptop")
    assert stored_rp_ids(owner) == [host]
    expect(page.get_by_test_id("passkey-host")).to_have_text(f"works on {host} (this address)")

    # Step-up on the org host with that passkey (recorded in Acme's audit log).
    page.goto(base + "/account/confirm?next=/account")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/account$"))
    assert factories.execute(
        "SELECT count(*) FROM audit_events WHERE org_id = :o AND action = 'account.reauth'"
        " AND details->>'method' = 'passkey'", o=acme.id).scalar() == 1

    sign_out(page)  # and passwordless sign-in on the same host
    page.get_by_role("button", name="Use a passkey instead").click()
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/o/{acme.slug}/"))
    assert last_session_method(owner) == "passkey"
    assert violations == []


def test_a_passkey_made_on_a_verified_custom_domain_works_there(server, page):
    acme, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(acme, "growth")
    factories.execute("INSERT INTO custom_domains (org_id, domain, token, verified_at)"
                      " VALUES (:o, :d, :t, now())", o=acme.id, d=DOMAIN,
                      t=secrets.token_hex(16))
    owner = people["owner"]
    base = on(server, DOMAIN)[:-1]
    password_sign_in(page, base + "/login", owner)
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/o/{acme.slug}/"))
    register_passkey(page, base, "Work laptop")
    assert stored_rp_ids(owner) == [DOMAIN]

    sign_out(page)
    page.get_by_role("button", name="Use a passkey instead").click()
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/o/{acme.slug}/"))
    assert last_session_method(owner) == "passkey"
    # As the second factor after the password, too.
    sign_out(page)
    password_sign_in(page, base + "/login", owner)
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/o/{acme.slug}/"))


FETCH_CHALLENGE = """
async () => {
  const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  const r = await fetch("/login/passkey/login/options", {method: "POST", body: "{}",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}});
  return (await r.json()).challenge;
}
"""

SIGN_CHALLENGE = """
async ({challenge}) => {
  const dec = s => Uint8Array.from(
    atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)),
    c => c.charCodeAt(0));
  const enc = b => btoa(String.fromCharCode(...new Uint8Array(b)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const cred = await navigator.credentials.get({publicKey: {
    challenge: dec(challenge), rpId: location.hostname, allowCredentials: [],
    userVerification: "required"}});
  const r = cred.response;
  return {id: cred.id, rawId: enc(cred.rawId), type: cred.type, clientExtensionResults: {},
    response: {clientDataJSON: enc(r.clientDataJSON), authenticatorData: enc(r.authenticatorData),
      signature: enc(r.signature), userHandle: r.userHandle ? enc(r.userHandle) : null}};
}
"""

POST_ANSWER = """
async ({answer}) => {
  const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  const r = await fetch("/login/passkey/login", {method: "POST", body: JSON.stringify(answer),
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}});
  return {status: r.status, body: await r.text()};
}
"""


def test_a_passkey_of_the_installation_host_is_refused_on_an_org_host(server, page):
    acme, people = factories.org_with_members(owner="owner")
    owner = people["owner"]
    installation = on(server, "localhost")[:-1]
    acme_base = on(server, f"{acme.slug}.localhost")[:-1]
    password_sign_in(page, installation + "/login", owner)
    page.wait_for_url(re.compile(rf"/o/{acme.slug}/"))
    register_passkey(page, installation, "Installation key")
    assert stored_rp_ids(owner) == ["localhost"]
    expect(page.get_by_test_id("passkey-host")).to_have_text("works on localhost (this address)")
    sign_out(page)

    # A hand-made answer: Acme's challenge signed by the installation's passkey, posted to
    # Acme's host. The server refuses it (the browser itself would never offer that key).
    page.goto(acme_base + "/login")
    challenge = page.evaluate(FETCH_CHALLENGE)
    page.goto(installation + "/login")
    answer = page.evaluate(SIGN_CHALLENGE, {"challenge": challenge})
    page.goto(acme_base + "/login")
    result = page.evaluate(POST_ANSWER, {"answer": answer})
    assert result["status"] == 401, result
    assert "another address" in json.loads(result["body"])["error"]["message"]
    assert factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL", u=owner.id).scalar() == 0

    # The password on Acme's host leads to the second factor, where that passkey is not
    # offered; the page says why.
    password_sign_in(page, acme_base + "/login", owner)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(page.get_by_test_id("passkeys-elsewhere")).to_contain_text("they work on localhost")
    expect(page.get_by_role("button", name="Use a passkey")).to_have_count(0)


def test_a_passkey_of_someone_no_longer_a_member_opens_nothing_on_the_org_host(server, page):
    acme, people = factories.org_with_members(owner="owner", leaver="member")
    leaver = people["leaver"]
    base = on(server, f"{acme.slug}.localhost")[:-1]
    password_sign_in(page, base + "/login", leaver)
    page.wait_for_url(re.compile(rf"/o/{acme.slug}/"))
    register_passkey(page, base, "Old laptop")
    sign_out(page)
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=acme.id, u=leaver.id)
    page.get_by_role("button", name="Use a passkey instead").click()
    # Like a password sign-in of someone with no org (tests/security/test_hosts_signup.py):
    # signed in to no org, told an invitation is needed; nothing of the org opens.
    expect(page.get_by_test_id("needs-invitation")).to_be_visible()
    assert factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL AND org_id IS NOT NULL",
                             u=leaver.id).scalar() == 0
    page.goto(base + f"/o/{acme.slug}/members")
    expect(page.get_by_role("heading", name="Members")).to_have_count(0)


def test_a_passkey_does_not_get_around_an_orgs_required_sso(server, page):
    from tests.support.sso import saml_org

    acme = saml_org()
    member = acme.people["member"]
    base = on(server, f"{acme.org.slug}.localhost")[:-1]
    password_sign_in(page, base + "/login", member)
    page.wait_for_url(re.compile(rf"/o/{acme.org.slug}/"))
    register_passkey(page, base, "Laptop")
    sign_out(page)
    factories.execute("UPDATE sso_connections SET require_sso = true WHERE id = :c",
                      c=acme.conn.id)
    page.goto(base + "/login")  # single sign-on only: no password, no passkey offered
    expect(page.get_by_test_id("host-sso")).to_be_visible()
    expect(page.get_by_role("button", name="Use a passkey instead")).to_have_count(0)
    # The passkey endpoints, called by hand with a real signature: refused all the same.
    challenge = page.evaluate(FETCH_CHALLENGE)
    answer = page.evaluate(SIGN_CHALLENGE, {"challenge": challenge})
    result = page.evaluate(POST_ANSWER, {"answer": answer})
    assert result["status"] == 403, result
    assert "requires single sign-on" in json.loads(result["body"])["error"]["message"]
    assert factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL", u=member.id).scalar() == 0
