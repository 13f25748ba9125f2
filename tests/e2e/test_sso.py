"""SSO sign-in through a real (loopback) SAML identity provider, as a person clicks it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.e2e.saml_idp_server import SamlIdpServer
from tests.e2e.support import expect_org_page, sign_out
from tests.support.sso import saml_org

pytestmark = pytest.mark.e2e


@pytest.fixture
def saml_idp():
    server = SamlIdpServer().start()
    yield server
    server.stop()


def _password_attempt(page: Page, email: str) -> None:
    # The sign-in page is email-first and sends SSO domains to their IdP; a person who wants
    # to try a password takes the "Sign in with a password instead" link.
    page.goto("/login")
    page.get_by_role("link", name="Sign in with a password instead").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _email_first(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()  # a verified SSO domain: to its IdP


def _through_the_idp(page: Page, saml_idp: SamlIdpServer, email: str) -> None:
    page.wait_for_url(re.compile(re.escape(saml_idp.server.url) + r"/sso\?SAMLRequest="))
    page.get_by_label("Work email").fill(email)
    page.get_by_role("button", name="Sign in with Test IdP").click()
    page.get_by_role("button", name="Continue to Tenantdesk").click()  # cross-site POST to ACS


def test_sso_required_member_links_and_signs_in_through_the_idp(new_context, saml_idp):
    page = new_context().new_page()  # the real CSP (form-action 'self') applies
    setup = saml_org(saml_idp.idp, require_sso=True)
    # A domain the sign-in form accepts (it refuses special-use names such as .test).
    domain = factories.SsoDomainFactory(
        org_id=setup.org.id, domain=f"{factories.unique('corp')}.example.com").domain
    maria = factories.UserFactory(email=f"maria@{domain}", name="Maria Member")
    factories.MembershipFactory(org_id=setup.org.id, user_id=maria.id, role="member")

    # Email first: the verified domain sends Maria to her IdP; her account exists, so its
    # password links the identity once.
    _email_first(page, maria.email)
    _through_the_idp(page, saml_idp, maria.email)
    page.wait_for_url(re.compile(r"/sso/link"))
    expect(page.get_by_text(maria.email)).to_be_visible()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Link and sign in").click()
    page.wait_for_url(re.compile(rf"/o/{setup.org.slug}/"))
    expect_org_page(page, setup.org.name)
    sign_out(page)

    # A password is not enough in an org that requires single sign-on; from the refusal the
    # IdP alone signs her in now (no linking step).
    _password_attempt(page, maria.email)
    expect(page.get_by_role("heading", name=f"{setup.org.name} requires single sign-on"))\
        .to_be_visible()
    page.get_by_role("button", name="Continue with single sign-on").click()
    _through_the_idp(page, saml_idp, maria.email)
    page.wait_for_url(re.compile(rf"/o/{setup.org.slug}/"))
    expect_org_page(page, setup.org.name)
    expect(page.get_by_test_id("my-role")).to_have_text("Member")
    assert saml_idp.signed_in == [maria.email, maria.email]
    sign_out(page)


# form-action 'self' also governs the redirect that answers a form POST; starting SSO answers
# with a same-origin page that moves on by meta refresh, which the CSP leaves alone.
def test_sso_reaches_the_idp_under_the_real_csp(page, saml_idp):
    setup = saml_org(saml_idp.idp, require_sso=True)
    domain = factories.SsoDomainFactory(
        org_id=setup.org.id, domain=f"{factories.unique('corp')}.example.com").domain
    user = factories.UserFactory(email=f"csp@{domain}")
    factories.MembershipFactory(org_id=setup.org.id, user_id=user.id, role="member")
    idp_page = re.compile(re.escape(saml_idp.server.url) + r"/sso\?")
    _email_first(page, user.email)
    page.wait_for_url(idp_page, timeout=2000)
    _password_attempt(page, user.email)
    page.get_by_role("button", name="Continue with single sign-on").click()
    page.wait_for_url(idp_page, timeout=2000)


def test_an_admin_sets_up_saml_from_the_values_the_empty_page_shows(page, saml_idp):
    """The IdP side is registered first, from the empty SSO page alone; the IdP's metadata
    is pasted back second; the values do not change on save and the test sign-in works."""
    from tests.e2e.support import sign_in

    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")
    sign_in(page, people["owner"])
    page.goto(f"/o/{org.slug}/sso")
    expect(page.get_by_test_id("guide-okta")).to_be_visible()
    entity_id = page.get_by_label("Entity ID (audience)").input_value()
    acs_url = page.get_by_label("ACS URL (HTTP-POST)").input_value()
    assert entity_id.endswith("/metadata") and acs_url.endswith("/acs")
    saml_idp.register_sp(entity_id, acs_url)  # the IT admin's work at the IdP

    page.get_by_label("IdP metadata XML").fill(saml_idp.idp.metadata())
    page.get_by_role("button", name="Save from metadata").click()
    expect(page.get_by_text("SAML connection saved.")).to_be_visible()
    assert page.get_by_label("Entity ID (audience)").input_value() == entity_id
    assert page.get_by_label("ACS URL (HTTP-POST)").input_value() == acs_url

    page.get_by_role("button", name="Test connection").click()
    _through_the_idp(page, saml_idp, "it-admin@corp.example.com")
    expect(page.get_by_text("The connection works")).to_be_visible()


def test_signed_requests_accepted_and_signing_out_ends_both_sessions(new_context, saml_idp,
                                                                      live_server):
    """An IdP that accepts only RSA-SHA256-signed requests (checked with the certificate in
    our metadata) signs a person in; signing out ends the Tenantdesk session, then the
    IdP's, and the browser comes back to a clear page."""
    import base64

    import requests as http
    from lxml import etree

    from dashboard.sso import saml

    page = new_context().new_page()
    setup = saml_org(saml_idp.idp)
    config = saml.IdpConfig(saml_idp.idp.entity_id, saml_idp.idp.sso_url,
                            (saml_idp.idp.cert_b64,), saml_idp.idp.slo_url)
    factories.execute("UPDATE sso_connections SET config = CAST(:c AS jsonb) WHERE id = :i",
                      c=__import__("json").dumps(config.as_config()), i=setup.conn.id)
    domain = factories.SsoDomainFactory(
        org_id=setup.org.id, domain=f"{factories.unique('corp')}.example.com").domain
    metadata = etree.fromstring(http.get(
        live_server(f"/sso/saml/{setup.conn.id}/metadata"), timeout=5).content)
    cert = "".join(metadata.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
                   .split())
    base64.b64decode(cert)  # a real certificate, as the IdP admin uploads it
    saml_idp.require_signed_requests = cert

    email = f"nora@{domain}"
    _email_first(page, email)
    _through_the_idp(page, saml_idp, email)
    page.wait_for_url(re.compile(rf"/o/{setup.org.slug}/"))
    expect_org_page(page, setup.org.name)

    page.get_by_label(re.compile("^Account menu")).click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(saml_idp.server.url) + r"/slo\?SAMLRequest="))
    assert saml_idp.logged_out == [email]
    page.get_by_role("link", name="Return to Tenantdesk").click()
    expect(page.get_by_text("You are signed out, here and at your identity provider.")) \
        .to_be_visible()
    page.goto(f"/o/{setup.org.slug}/")
    page.wait_for_url(re.compile(r"/login"))


def test_a_returning_person_with_a_new_nameid_each_time_needs_no_password(new_context,
                                                                            saml_idp):
    page = new_context().new_page()
    saml_idp.transient_name_ids = True
    setup = saml_org(saml_idp.idp)
    domain = factories.SsoDomainFactory(
        org_id=setup.org.id, domain=f"{factories.unique('corp')}.example.com").domain
    email = f"tomas@{domain}"
    for _ in range(2):
        _email_first(page, email)
        _through_the_idp(page, saml_idp, email)
        page.wait_for_url(re.compile(rf"/o/{setup.org.slug}/"))
        expect_org_page(page, setup.org.name)
        sign_out(page)
    assert factories.execute("SELECT count(*) FROM users WHERE email = :e", e=email).scalar() == 1
