"""Verified domains (DNS TXT against a stub DNS server on loopback), the email-first sign-in
page, and SSO enforcement at password sign-in, org switch and org creation."""

from __future__ import annotations

import pytest

from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.helpers import csrf_token, login
from tests.support.dns_stub import StubDNS
from tests.support.sso import (
    audit_actions,
    idp_redirect,
    post_to_acs,
    saml_login,
    saml_org,
    session_row,
)


@pytest.fixture
def dns(app, monkeypatch):
    with StubDNS() as server:
        monkeypatch.setitem(app.config, "DNS_RESOLVER", server.address)
        yield server


def owner_client(client, plan="enterprise"):
    org, people = factories.org_with_members(owner="owner", member="member")
    factories.put_on_plan(org, plan)
    login(client, people["owner"])
    return org, people


def sso_post(client, org, path, data=None):
    token = csrf_token(client, f"/o/{org.slug}/sso")
    return client.post(f"/o/{org.slug}/sso{path}", data={"csrf_token": token, **(data or {})})


def domain_row(org, domain):
    return factories.execute("SELECT id, token, verified_at FROM sso_domains"
                             " WHERE org_id = :o AND domain = :d", o=org.id, d=domain).one_or_none()


# --------------------------------------------------------------------------- domains


def test_claim_then_prove_a_domain_with_a_txt_record(client, dns):
    org, _ = owner_client(client)
    domain = f"{org.slug}.example.test"
    assert sso_post(client, org, "/domains", {"domain": f"  {domain.upper()}. "}
                    ).status_code == 303
    row = domain_row(org, domain)
    page = client.get(f"/o/{org.slug}/sso").get_data(as_text=True)
    assert f"_tenantdesk-challenge.{domain}" in page and row.token in page
    missing = sso_post(client, org, f"/domains/{row.id}/verify")
    assert missing.status_code == 400 and "No TXT record" in missing.get_data(as_text=True)
    dns.set_txt(f"_tenantdesk-challenge.{domain}.", "v=spf1 -all",
                f"tenantdesk-verification={row.token}")
    assert sso_post(client, org, f"/domains/{row.id}/verify").status_code == 303
    assert domain_row(org, domain).verified_at is not None
    actions = [a for a, _ in audit_actions(org.id)]
    assert "sso.domain_claimed" in actions and "sso.domain_verified" in actions


def test_a_wrong_token_does_not_verify(client, dns):
    org, _ = owner_client(client)
    domain = f"{org.slug}.example.test"
    sso_post(client, org, "/domains", {"domain": domain})
    row = domain_row(org, domain)
    dns.set_txt(f"_tenantdesk-challenge.{domain}.", "tenantdesk-verification=someone-elses")
    assert sso_post(client, org, f"/domains/{row.id}/verify").status_code == 400
    assert domain_row(org, domain).verified_at is None


@pytest.mark.parametrize("mode", ["servfail", "silent"])
def test_dns_trouble_is_a_clear_retry_later(client, dns, mode):
    org, _ = owner_client(client)
    domain = f"{org.slug}.example.test"
    sso_post(client, org, "/domains", {"domain": domain})
    dns.mode = mode
    response = sso_post(client, org, f"/domains/{domain_row(org, domain).id}/verify")
    assert response.status_code == 400
    assert "DNS did not answer" in response.get_data(as_text=True)


def test_a_domain_is_verified_by_one_org_only(client, app, dns):
    org_b, _ = factories.org_with_members(owner="owner")
    domain = f"{org_b.slug}.example.test"
    factories.SsoDomainFactory(org_id=org_b.id, domain=domain)  # verified by B
    org, _ = owner_client(client)
    refused = sso_post(client, org, "/domains", {"domain": domain})
    assert refused.status_code == 400
    assert "Another organization has verified" in refused.get_data(as_text=True)
    assert domain_row(org, domain) is None


def test_a_pending_claim_cannot_be_verified_once_another_org_verified(client, dns):
    org, _ = owner_client(client)
    domain = f"{org.slug}.example.test"
    sso_post(client, org, "/domains", {"domain": domain})
    row = domain_row(org, domain)
    dns.set_txt(f"_tenantdesk-challenge.{domain}.", f"tenantdesk-verification={row.token}")
    other, _ = factories.org_with_members(owner="owner")
    factories.SsoDomainFactory(org_id=other.id, domain=domain)
    response = sso_post(client, org, f"/domains/{row.id}/verify")
    assert response.status_code == 400
    assert domain_row(org, domain).verified_at is None


@pytest.mark.parametrize("value", ["com", "not a domain", "a..b", "1.2.3.4", "x" * 300,
                                   "-bad-.test"])
def test_bad_domains_are_form_errors(client, value):
    org, _ = owner_client(client)
    response = sso_post(client, org, "/domains", {"domain": value})
    assert response.status_code == 400
    assert factories.execute("SELECT count(*) FROM sso_domains WHERE org_id = :o",
                             o=org.id).scalar() == 0


# --------------------------------------------------------------------------- email first


def test_email_at_an_sso_domain_goes_to_the_idp(client, idp):
    setup = saml_org(idp)
    page = client.get("/login").get_data(as_text=True)
    assert "Continue" in page and 'name="password"' not in page
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "email": setup.email("ann")})
    url = idp_redirect(response)
    assert url.startswith(idp.sso_url + "?SAMLRequest=")
    answered = post_to_acs(client, setup.conn.id, idp.answer(url, name_id=setup.email("ann")))
    assert answered.status_code == 303 and session_row(client).auth_method == "sso"


def test_other_emails_get_the_password_step(client):
    org, people = factories.org_with_members(owner="owner")
    token = csrf_token(client, "/login")
    step = client.post("/login", data={"csrf_token": token, "email": people["owner"].email})
    page = step.get_data(as_text=True)
    assert step.status_code == 200 and 'name="password"' in page and 'value="password"' in page
    empty = client.post("/login", data={"csrf_token": token, "email": people["owner"].email,
                                        "step": "password"})
    assert empty.status_code == 400 and "Enter your password." in empty.get_data(as_text=True)
    done = client.post("/login", data={"csrf_token": token, "email": people["owner"].email,
                                       "step": "password", "password": TEST_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/o/{org.slug}/")


# --------------------------------------------------------------------------- enforcement


def require_sso(setup, break_glass=True):
    factories.execute("UPDATE sso_connections SET require_sso = true, owner_break_glass = :b"
                      " WHERE id = :c", b=break_glass, c=setup.conn.id)


def test_members_of_an_sso_required_org_get_no_password_session(client, idp):
    setup = saml_org(idp)
    require_sso(setup)
    response = login(client, setup.people["member"])
    assert response.status_code == 403
    assert "requires single sign-on" in response.get_data(as_text=True)
    assert session_row(client) is None
    admin = login(client, setup.people["admin"])
    assert admin.status_code == 403 and session_row(client) is None


def test_owner_break_glass_is_allowed_and_audited(client, idp):
    setup = saml_org(idp)
    require_sso(setup, break_glass=True)
    response = login(client, setup.people["owner"])
    assert response.status_code == 302
    assert session_row(client).auth_method == "break_glass"
    assert "sso.break_glass_login" in [a for a, _ in audit_actions(setup.org.id)]


def test_without_break_glass_owners_need_sso_too(client, idp):
    setup = saml_org(idp)
    require_sso(setup, break_glass=False)
    assert login(client, setup.people["owner"]).status_code == 403
    assert session_row(client) is None


def test_password_login_lands_in_another_org_and_cannot_switch_in(client, idp):
    setup = saml_org(idp)
    require_sso(setup)
    other, _ = factories.org_with_members(owner="owner")
    factories.MembershipFactory(org_id=other.id, user_id=setup.people["member"].id,
                                role="member")
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=setup.org.id,
                      u=setup.people["member"].id)
    response = login(client, setup.people["member"])
    assert response.headers["Location"].endswith(f"/o/{other.slug}/")  # not the SSO org
    assert session_row(client).org_id == other.id
    assert client.get(f"/o/{setup.org.slug}/").status_code == 403  # the deep-link switch
    token = csrf_token(client, f"/o/{other.slug}/")
    switched = client.post("/switch", data={"csrf_token": token, "slug": setup.org.slug})
    assert switched.status_code == 403
    row = session_row(client)
    assert row.org_id == other.id and row.revoked_at is None


def test_an_sso_session_cannot_create_a_new_org_session(client, idp):
    setup = saml_org(idp)
    saml_login(client, setup, name_id=setup.email("creator"))
    token = csrf_token(client, "/orgs/new")
    response = client.post("/orgs/new", data={"csrf_token": token, "name": "Side Project",
                                              "slug": f"side-{setup.org.slug}"})
    assert response.status_code == 403
    assert factories.execute("SELECT count(*) FROM organizations WHERE slug = :s",
                             s=f"side-{setup.org.slug}").scalar() == 0


def test_requiring_sso_needs_an_sso_session_and_ends_password_sessions(app, client, idp):
    setup = saml_org(idp, attribute_map={"groups": "groups",
                                         "group_roles": {"it-admins": "admin"}})
    member_browser = app.test_client()
    login(member_browser, setup.people["member"])
    owner_browser = app.test_client()
    login(owner_browser, setup.people["owner"])
    # From a password session: refused, nothing changed.
    admin_pw = app.test_client()
    login(admin_pw, setup.people["admin"])
    refused = sso_post(admin_pw, setup.org, "/options", {
        "default_role": "member", "groups_attribute": "groups",
        "group_roles": "it-admins = admin", "require_sso": "y", "owner_break_glass": "y"})
    assert refused.status_code == 400
    assert "Sign in through this connection first" in refused.get_data(as_text=True)
    assert not factories.execute("SELECT require_sso FROM sso_connections WHERE id = :c",
                                 c=setup.conn.id).scalar()
    # From an SSO session (an IdP admin, mapped by group): done, password sessions end.
    saml_login(client, setup, name_id=setup.email("it"), attributes={"groups": ["it-admins"]})
    done = sso_post(client, setup.org, "/options", {
        "default_role": "member", "groups_attribute": "groups",
        "group_roles": "it-admins = admin", "require_sso": "y", "owner_break_glass": "y"})
    assert done.status_code == 303, done.get_data(as_text=True)[:2000]
    assert session_row(member_browser).revoked_at is not None
    assert session_row(admin_pw).revoked_at is not None
    assert session_row(owner_browser).revoked_at is None  # break-glass owner keeps it
    assert member_browser.get(f"/o/{setup.org.slug}/").status_code == 302


def _pass_connection_test(client, setup):
    response = sso_post(client, setup.org, "/test")
    answer = setup.idp.answer(idp_redirect(response), name_id=setup.email("it-tester"))
    page = post_to_acs(client, setup.conn.id, answer)
    assert "The connection works" in page.get_data(as_text=True)


def test_an_owner_with_email_elsewhere_requires_sso_after_a_passing_test(app, client, idp):
    """The owner's own email is not at the verified domain, so they can never sign in through
    the connection; a passing "Test connection" plus keeping break-glass is their proof."""
    setup = saml_org(idp)
    owner = setup.people["owner"]
    assert not owner.email.endswith("@" + setup.domain)
    login(client, owner)
    options = {"default_role": "member", "require_sso": "y", "owner_break_glass": "y"}
    untested = sso_post(client, setup.org, "/options", options)
    assert untested.status_code == 400
    _pass_connection_test(client, setup)
    without_break_glass = sso_post(client, setup.org, "/options",
                                   {"default_role": "member", "require_sso": "y"})
    assert without_break_glass.status_code == 400
    assert not factories.execute("SELECT require_sso FROM sso_connections WHERE id = :c",
                                 c=setup.conn.id).scalar()
    done = sso_post(client, setup.org, "/options", options)
    assert done.status_code == 303, done.get_data(as_text=True)[:1500]
    assert factories.execute("SELECT require_sso FROM sso_connections WHERE id = :c",
                             c=setup.conn.id).scalar()
    assert session_row(client).revoked_at is None  # the owner keeps the password session
    assert client.get(f"/o/{setup.org.slug}/").status_code == 200


def test_an_admin_cannot_use_the_connection_test_to_require_sso(app, client, idp):
    setup = saml_org(idp)
    login(client, setup.people["admin"])
    _pass_connection_test(client, setup)
    refused = sso_post(client, setup.org, "/options",
                       {"default_role": "member", "require_sso": "y", "owner_break_glass": "y"})
    assert refused.status_code == 400
