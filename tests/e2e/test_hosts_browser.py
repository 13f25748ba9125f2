"""Org hosts in a real browser: acme.localhost is Acme's (branded sign-in, its SSO first, the
session stays on that host), a custom domain works after DNS verification only, and Globex's
pages never appear under Acme's host. Chromium maps the test names to loopback
(``--host-resolver-rules``), as DNS would in production."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.conftest import TEST_PASSWORD, make_app
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.e2e.saml_idp_server import SamlIdpServer
from tests.live_server import LiveServer
from tests.support.dns_stub import StubDNS
from tests.support.sso import saml_org

pytestmark = pytest.mark.e2e
CUSTOM = "example.com"  # custom domains in these tests: <something>.example.com


@pytest.fixture(scope="module")
def hosts_server(database_urls, tmp_path_factory, smtp_server):
    """The app with org hosts on (TENANT_HOST_SUFFIX=.localhost), like `make run`."""
    server = LiveServer().start(lambda url: make_app(
        database_urls, tmp_path_factory.mktemp("hosts-live"), BASE_URL=url,
        SMTP_URL=smtp_server.url, TENANT_HOST_SUFFIX=".localhost"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hosts_browser(_playwright):
    if not CHROMIUM.exists():
        pytest.skip("chromium missing")
    rules = f"MAP *.localhost 127.0.0.1, MAP *.{CUSTOM} 127.0.0.1"
    browser = _playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"])
    yield browser
    browser.close()


@pytest.fixture
def browser_context(hosts_browser):
    context = hosts_browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def saml_idp():
    server = SamlIdpServer().start()
    yield server
    server.stop()


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _on(server, host: str, path: str = "/") -> str:
    return f"http://{host}:{_port(server)}{path}"


def _password_sign_in(page, user) -> None:
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name=re.compile("^Sign in")).click()


def test_acme_host_shows_its_branded_sign_in_and_sso_and_keeps_the_session(
        hosts_server, browser_context, saml_idp):
    acme = saml_org(saml_idp.idp)
    factories.branding(acme.org, display_name="Acme Robotics", primary_color="#1f4e9c")
    globex, _ = factories.org_with_members(owner="owner")
    acme_host, globex_host = f"{acme.org.slug}.localhost", f"{globex.slug}.localhost"
    page = browser_context.new_page()

    page.goto(_on(hosts_server, acme_host, "/login"))
    expect(page.get_by_role("heading", name="Sign in to Acme Robotics")).to_be_visible()
    logo = page.get_by_test_id("host-logo")
    expect(logo).to_be_visible()
    assert page.evaluate("el => el.naturalWidth", logo.element_handle()) > 0  # served, decoded
    sso = page.get_by_role("button", name="Sign in with Acme Robotics single sign-on")
    password = page.get_by_label("Password")
    assert sso.bounding_box()["y"] < password.bounding_box()["y"]  # single sign-on first

    sso.click()
    page.wait_for_url(re.compile(re.escape(saml_idp.server.url) + r"/sso\?SAMLRequest="))
    page.get_by_label("Work email").fill(acme.email("newcomer"))
    page.get_by_role("button", name="Sign in with Test IdP").click()
    page.get_by_role("button", name="Continue to Tenantdesk").click()  # to the shared ACS
    page.wait_for_url(re.compile(rf"^http://{re.escape(acme_host)}:\d+/o/{acme.org.slug}/"))
    expect(page.get_by_test_id("brand")).to_contain_text("Acme Robotics")

    # The cookie is host-only: Globex's host and the installation's do not get it.
    cookies = [c for c in browser_context.cookies() if c["name"] == "tenantdesk_session"]
    assert [c["domain"] for c in cookies] == [acme_host]
    page.goto(_on(hosts_server, globex_host, "/account"))
    page.wait_for_url(re.compile(r"/login"))
    page.goto(hosts_server.url + "/account")
    page.wait_for_url(re.compile(r"/login"))


def test_globex_pages_never_appear_under_acme_host(hosts_server, browser_context):
    acme, people = factories.org_with_members(owner="owner")
    globex, _ = factories.org_with_members(owner="owner")
    factories.MembershipFactory(org_id=globex.id, user_id=people["owner"].id, role="admin")
    page = browser_context.new_page()
    page.goto(_on(hosts_server, f"{acme.slug}.localhost", "/login"))
    _password_sign_in(page, people["owner"])
    page.wait_for_url(re.compile(rf"/o/{acme.slug}/"))
    for path in (f"/o/{globex.slug}/", f"/o/{globex.slug}/members"):
        response = page.goto(_on(hosts_server, f"{acme.slug}.localhost", path))
        assert response.status == 404
        expect(page.get_by_text(globex.name)).to_have_count(0)
    # The switcher takes the person to Globex's own host (a sign-in there, its own cookie).
    page.goto(_on(hosts_server, f"{acme.slug}.localhost", "/switcher"))
    page.get_by_role("button", name=re.compile(globex.name)).first.click()
    page.wait_for_url(re.compile(rf"^http://{re.escape(globex.slug)}\.localhost:\d+/login"))


def test_a_custom_domain_serves_the_org_after_verification_only(hosts_server, browser_context):
    acme, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(acme, "growth")
    domain = f"login.{factories.unique('acme')}.{CUSTOM}"
    page = browser_context.new_page()
    page.goto(_on(hosts_server, domain, "/login"))
    expect(page.get_by_role("heading", name="Sign in to Tenantdesk")).to_be_visible()

    page.goto(_on(hosts_server, f"{acme.slug}.localhost", "/login"))
    _password_sign_in(page, people["owner"])
    page.wait_for_url(re.compile(rf"/o/{acme.slug}/"))
    page.goto(_on(hosts_server, f"{acme.slug}.localhost", f"/o/{acme.slug}/domains"))
    page.get_by_role("textbox", name="Domain").fill(domain)
    page.get_by_role("button", name="Add domain").click()
    expect(page.get_by_text("Publish the TXT record")).to_be_visible()
    token = factories.execute("SELECT token FROM custom_domains WHERE domain = :d",
                              d=domain).scalar_one()
    with StubDNS() as dns:
        hosts_server.app.config["DNS_RESOLVER"] = dns.address
        try:
            page.get_by_role("button", name="Verify").click()  # no TXT record yet
            expect(page.get_by_role("alert")).to_contain_text("No TXT record")
            page.goto(_on(hosts_server, domain, "/login"))  # still not Acme's
            expect(page.get_by_role("heading", name="Sign in to Tenantdesk")).to_be_visible()
            dns.set_txt(f"_tenantdesk-challenge.{domain}", f"tenantdesk-verification={token}")
            page.goto(_on(hosts_server, f"{acme.slug}.localhost", f"/o/{acme.slug}/domains"))
            page.get_by_role("button", name="Verify").click()
            expect(page.get_by_text(f"{domain} is verified")).to_be_visible()
        finally:
            hosts_server.app.config["DNS_RESOLVER"] = "127.0.0.1:9"
    page.goto(_on(hosts_server, domain, "/login"))
    expect(page.get_by_role("heading", name=f"Sign in to {acme.name}")).to_be_visible()
