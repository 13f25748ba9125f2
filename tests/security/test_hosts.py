"""Tenant by hostname: <slug><suffix> is that org's and nobody else's (dashboard/hosts)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from dashboard.accounts.background import background
from tests import factories
from tests.support.hosts import OnHost, host_of, org_hosts
from tests.support.saml_idp import TestIdP
from tests.support.sso import idp_redirect, saml_org


@pytest.fixture(autouse=True)
def _hosts_on(app):
    with org_hosts(app):
        yield


@pytest.fixture
def two_orgs():
    """Acme (SAML connection, an owner, a member) and Globex; ``both`` belongs to both."""
    acme = saml_org(TestIdP())
    globex, globex_people = factories.org_with_members(owner="owner")
    both = factories.UserFactory(name="Both Orgs")
    factories.MembershipFactory(org_id=acme.org.id, user_id=both.id, role="admin")
    factories.MembershipFactory(org_id=globex.id, user_id=both.id, role="admin")
    return acme, globex, globex_people["owner"], both


def test_the_org_host_sign_in_page_is_the_orgs_with_its_sso_first(client, two_orgs):
    acme, *_ = two_orgs
    page = OnHost(client, host_of(acme.org)).get("/login").get_data(as_text=True)
    assert f"Sign in to {acme.org.name}" in page
    sso = page.index(f'action="/sso/start/{acme.conn.id}"')
    assert sso < page.index('name="password"')  # single sign-on first, password after
    installation = client.get("/login").get_data(as_text=True)
    assert "Sign in to Tenantdesk" in installation and "/sso/start/" not in installation


@pytest.mark.parametrize("break_glass", [True, False])
def test_no_password_form_where_the_org_requires_sso(client, break_glass):
    acme = saml_org(TestIdP(), require_sso=True, owner_break_glass=break_glass)
    host = OnHost(client, host_of(acme.org))
    page = host.get("/login").get_data(as_text=True)
    assert 'name="password"' not in page and "single sign-on only" in page
    assert ("Owners: sign in with a password" in page) is break_glass
    # A member's password is refused there all the same (SSO enforcement).
    response = host.login(acme.people["member"])
    assert response.status_code == 403 and not host.signed_in()


@pytest.mark.parametrize("host", ["nosuch.localhost", "login.unverified.example", "localhost"])
def test_an_unknown_host_answers_the_installations_pages(client, host):
    page = OnHost(client, host).get("/login")
    assert page.status_code == 200 and "Sign in to Tenantdesk" in page.get_data(as_text=True)


def test_a_suspended_orgs_host_is_nobodys(client, two_orgs):
    acme, *_ = two_orgs
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o",
                      o=acme.org.id)
    page = OnHost(client, host_of(acme.org)).get("/login").get_data(as_text=True)
    assert acme.org.name not in page and "Sign in to Tenantdesk" in page


def test_password_sign_in_on_an_org_host_opens_that_org(client, two_orgs):
    acme, globex, _, both = two_orgs
    factories.execute("UPDATE users SET last_org_id = :g WHERE id = :u", g=globex.id, u=both.id)
    host = OnHost(client, host_of(acme.org))
    response = host.login(both)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == f"/o/{acme.org.slug}/"
    assert host.get(f"/o/{acme.org.slug}/").status_code == 200


def test_a_non_member_gets_no_session_on_the_org_host(client, two_orgs):
    acme, globex, globex_owner, _ = two_orgs
    host = OnHost(client, host_of(acme.org))
    response = host.login(globex_owner)
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and f"not a member of {acme.org.name}" in body
    assert not host.signed_in()
    assert globex.name not in body


def test_another_orgs_pages_never_appear_under_an_org_host(client, two_orgs):
    acme, globex, _, both = two_orgs
    host = OnHost(client, host_of(acme.org))
    host.login(both)
    for path in (f"/o/{globex.slug}/", f"/o/{globex.slug}/members", f"/o/{globex.slug}/audit"):
        response = host.get(path)
        assert response.status_code == 404, path
        assert globex.name not in response.get_data(as_text=True)
    # The switcher sends the person to Globex's own host; the session here stays Acme's.
    response = host.post("/switch", {"slug": globex.slug}, csrf_from_path="/switcher")
    assert response.status_code == 200
    assert f'content="0;url=http://{host_of(globex)}/o/{globex.slug}/"' in response.get_data(
        as_text=True)
    assert host.get(f"/o/{acme.org.slug}/").status_code == 200


def test_session_cookies_are_host_only_and_stay_on_their_host(client, two_orgs):
    acme, globex, _, both = two_orgs
    acme_host, globex_host = OnHost(client, host_of(acme.org)), OnHost(client, host_of(globex))
    response = acme_host.login(both)
    cookie = response.headers["Set-Cookie"]
    assert "tenantdesk_session=" in cookie and "domain=" not in cookie.lower()
    assert acme_host.signed_in()
    assert not globex_host.signed_in()  # the browser does not send acme's cookie there
    assert not OnHost(client, "127.0.0.1").signed_in()


def test_a_session_of_another_org_replayed_on_an_org_host_is_dropped(app, two_orgs):
    acme, globex, _, both = two_orgs
    on_globex = OnHost(app.test_client(), host_of(globex))
    on_globex.login(both)
    stolen = on_globex.client.get_cookie("tenantdesk_session", domain=host_of(globex)).value
    replay = app.test_client()
    replay.set_cookie("tenantdesk_session", stolen, domain=host_of(acme.org))
    on_acme = OnHost(replay, host_of(acme.org))
    assert on_acme.get(f"/o/{globex.slug}/").status_code == 404
    response = on_acme.get(f"/o/{acme.org.slug}/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_api_key_of_another_org_is_refused_on_an_org_host(client, two_orgs):
    acme, globex, *_ = two_orgs
    factories.put_on_plan(globex, "enterprise")
    plaintext, _ = factories.api_key(globex, ["members:read"])
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/org", headers=headers).status_code == 200
    refused = OnHost(client, host_of(acme.org)).get("/api/v1/org", headers=headers)
    assert refused.status_code == 404 and globex.name not in refused.get_data(as_text=True)
    assert OnHost(client, host_of(globex)).get("/api/v1/org", headers=headers).status_code == 200


def test_sso_started_on_the_org_host_signs_in_on_that_host(app, client, two_orgs):
    acme, *_ = two_orgs
    host = OnHost(client, host_of(acme.org))
    url = idp_redirect(host.post(f"/sso/start/{acme.conn.id}"))
    answer = acme.idp.answer(url, name_id=acme.email("newcomer"))  # JIT at the verified domain
    from tests.support.saml_idp import to_post

    # The IdP posts to the installation's ACS URL (registered once for every org) ...
    acs = app.test_client().post(f"/sso/saml/{acme.conn.id}/acs",
                                 data={"SAMLResponse": to_post(answer)})
    assert acs.status_code == 303
    back = urlsplit(acs.headers["Location"])
    # ... which sends the browser back to the host where its session cookie lives.
    assert back.netloc == host_of(acme.org) and back.path.startswith("/sso/complete/")
    done = host.get(back.path)
    assert done.status_code == 303, done.get_data(as_text=True)[:500]
    assert host.get(f"/o/{acme.org.slug}/").status_code == 200
    assert not OnHost(client, "127.0.0.1").signed_in()


def test_another_orgs_sso_cannot_start_on_an_org_host(client, two_orgs):
    acme, *_ = two_orgs
    other = saml_org(TestIdP())
    response = OnHost(client, host_of(acme.org)).post(f"/sso/start/{other.conn.id}")
    assert response.status_code == 404


def test_mail_links_use_the_org_host(app, client, two_orgs, mail_server):
    acme, *_ = two_orgs
    owner = acme.people["owner"]
    host = OnHost(client, host_of(acme.org))
    host.post("/forgot-password", {"email": owner.email}, csrf_from_path="/forgot-password")
    background(app).drain()
    links = mail_server.links(mail_server.last(to=owner.email))
    assert any(link.startswith(f"http://{host_of(acme.org)}/reset-password/")
               for link in links), links
    # An invitation sent from the installation's host links to the org's host too, and
    # carries the org's brand (logo from its host, support contact).
    factories.put_on_plan(acme.org, "growth")
    factories.branding(acme.org, display_name="Acme Robotics",
                       support_contact="help@acme.example")
    from tests.helpers import login, post

    installation = app.test_client()
    login(installation, owner)
    invitee = f"new-{factories.unique('x')}@example.com"
    response = post(installation, f"/o/{acme.org.slug}/invitations",
                    {"emails": invitee, "role": "member"})
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:500]
    message = mail_server.last(to=invitee)
    links = mail_server.links(message)
    assert any(link.startswith(f"http://{host_of(acme.org)}:5000/invitations/")
               for link in links), links
    assert "Acme Robotics" in message["Subject"]
    assert "help@acme.example" in mail_server.text(message)
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_content()
    assert f'src="http://{host_of(acme.org)}:5000/branding/logo/' in html


def test_the_host_step_costs_one_statement_and_none_off_org_hosts(app, client, two_orgs):
    from dashboard.db import recording_statements

    acme, *_ = two_orgs
    engine = app.extensions["tenantdesk.db"].engine
    with recording_statements(engine) as installation:
        assert client.get("/login").status_code == 200
    assert installation == []  # the installation's host: classified without the database
    with recording_statements(engine) as org_host:
        assert OnHost(client, host_of(acme.org)).get("/login").status_code == 200
    host_steps = [s for s in org_host if "app_host_org" in s]
    assert len(host_steps) == 1
    # The context statement, the host step, and the plan catalogue for the brand (2).
    assert len(org_host) <= 4, org_host


@pytest.mark.parametrize("header", ["evil.example@{host}", "{host}:99999", "{host}\\x"])
def test_odd_host_headers_get_the_installations_pages(client, two_orgs, header):
    acme, *_ = two_orgs
    host = header.format(host=host_of(acme.org))
    response = client.get("/login", headers={"Host": host})
    assert response.status_code in (200, 400), response.status_code
    assert acme.org.name not in response.get_data(as_text=True)
