"""Signing up on an org's own host (``<slug><suffix>`` or a verified custom domain) with
``SIGNUP=open``: the mail links back to that host; once the address is confirmed there the
person is signed in there and offered what that org allows (join by verified domain where
it turned that on, else a page saying its invitation is the way in, with a sign-out). Never
another org's offer or session on that host, never a redirect loop."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest

from dashboard.accounts.background import background
from tests import factories
from tests.support.hosts import OnHost, host_of, org_hosts

PASSWORD = "marble kettle orchard 58"


@pytest.fixture(autouse=True)
def _hosts_and_open_signup(app):
    app.config["SIGNUP"] = "open"
    with org_hosts(app):
        yield
    app.config["SIGNUP"] = "invite-only"


def _open_to_domain(org, domain: str, role: str = "member") -> None:
    factories.SsoDomainFactory(org_id=org.id, domain=domain)
    factories.execute("UPDATE organizations SET settings = settings || jsonb_build_object("
                      "'domain_join', true, 'domain_join_role', cast(:r AS text)) WHERE id = :o",
                      o=org.id, r=role)


def _custom_domain(org) -> str:
    domain = f"login.{secrets.token_hex(4)}.example"
    factories.CustomDomainFactory(org_id=org.id, domain=domain,
                                  verified_at=factories.execute("SELECT now()").scalar_one())
    return domain


def _host_name(org, kind: str) -> str:
    return host_of(org) if kind == "suffix" else _custom_domain(org)


def _sign_up_and_confirm(app, host: OnHost, email: str, smtp_server):
    """Sign up on ``host``, open the mailed link (which must point at ``host``), confirm."""
    page = host.get("/signup").get_data(as_text=True)
    assert "Create your account for" in page and "create your organization" not in page
    asked = host.post("/signup", {"email": email, "name": "Nora Newcomer",
                                  "password": PASSWORD}, csrf_from_path="/signup")
    assert asked.status_code == 200
    background(app).drain()
    message = smtp_server.wait_for(to=email, where=lambda m: "Confirm your email" in
                                   m["Subject"])
    link = urlsplit(smtp_server.first_link(message, "/signup/verify/"))
    assert link.netloc == host.host  # the link comes back to the host it was asked on
    assert host.get(link.path).status_code == 200
    return host.post(link.path, csrf_from_path=link.path)


def _member_role(org, email):
    return factories.execute(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.org_id = :o AND lower(u.email) = lower(:e)", o=org.id, e=email).scalar()


def _landing(host: OnHost, path: str = "/", hops: int = 5):
    """Follow redirects on the host; a loop fails the test."""
    seen = []
    response = host.get(path)
    while response.status_code in (301, 302, 303) and len(seen) < hops:
        seen.append(path)
        path = urlsplit(response.headers["Location"]).path
        # Once is fine (an org switch answers with the same URL); twice is a loop.
        assert seen.count(path) < 2, f"redirect loop: {seen + [path]}"
        response = host.get(path)
    assert response.status_code not in (301, 302, 303), seen
    return path, response


@pytest.mark.parametrize("kind", ["suffix", "custom-domain"])
def test_signed_up_on_an_org_host_with_domain_joining_they_are_offered_to_join_it(
        app, client, mail_server, smtp_server, kind):
    org, _ = factories.org_with_members(owner="owner")
    domain = f"{secrets.token_hex(4)}.joiners.example"
    _open_to_domain(org, domain, role="guest")
    host = OnHost(client, _host_name(org, kind))
    email = f"jo@{domain}"
    done = _sign_up_and_confirm(app, host, email, smtp_server)
    assert done.status_code == 303 and urlsplit(done.headers["Location"]).path == "/welcome"
    assert host.signed_in()  # signed in on the host it was confirmed on
    path, welcome = _landing(host)
    page = welcome.get_data(as_text=True)
    assert path == "/welcome" and welcome.status_code == 200
    assert f"Join {org.name}" in page and "Create an organization" not in page
    joined = host.post(f"/welcome/join/{org.id}", csrf_from_path="/welcome")
    assert joined.status_code == 303
    assert urlsplit(joined.headers["Location"]).path == f"/o/{org.slug}/"
    assert _member_role(org, email) == "guest"
    assert host.get(f"/o/{org.slug}/").status_code == 200
    assert _landing(host)[0] == f"/o/{org.slug}/"


@pytest.mark.parametrize("kind", ["suffix", "custom-domain"])
def test_signed_up_on_an_org_host_without_a_way_in_they_are_told_to_get_an_invitation(
        app, client, mail_server, smtp_server, kind):
    org, _ = factories.org_with_members(owner="owner")
    host = OnHost(client, _host_name(org, kind))
    email = f"nora-{secrets.token_hex(4)}@elsewhere.example"
    done = _sign_up_and_confirm(app, host, email, smtp_server)
    assert done.status_code == 303 and host.signed_in()
    for start in ("/", "/welcome", "/login", "/orgs/new"):
        path, response = _landing(host, start)
        if start == "/login":
            continue  # the sign-in page itself, no redirect
        page = response.get_data(as_text=True)
        assert path == "/welcome" and response.status_code == 200, start
        assert f"You need an invitation to {org.name}" in page and email in page
        assert 'action="/logout"' in page and "Create an organization" not in page
    assert _member_role(org, email) is None
    assert factories.execute("SELECT count(*) FROM organizations o JOIN memberships m"
                             " ON m.org_id = o.id JOIN users u ON u.id = m.user_id"
                             " WHERE lower(u.email) = lower(:e)", e=email).scalar() == 0
    # Signing out works and stays signed out; signing in again comes back to the same page.
    out = host.post("/logout", csrf_from_path="/welcome")
    assert out.status_code in (302, 303) and not host.signed_in()
    again = host.post("/login", {"email": email, "password": PASSWORD})
    assert again.status_code in (302, 303)
    assert urlsplit(again.headers["Location"]).path == "/welcome"
    assert "You need an invitation" in host.get("/welcome").get_data(as_text=True)


def test_on_an_org_host_only_that_org_is_offered_and_no_other_org_is_entered(
        app, client, mail_server, smtp_server):
    """Someone whose domain could join Acme signs up on Globex's host: Globex says it takes
    invitations; Acme is neither offered nor joinable there, and no Acme session opens."""
    acme, _ = factories.org_with_members(owner="owner")
    globex, _ = factories.org_with_members(owner="owner")
    domain = f"{secrets.token_hex(4)}.acme-people.example"
    _open_to_domain(acme, domain)
    on_globex = OnHost(client, host_of(globex))
    email = f"pat@{domain}"
    _sign_up_and_confirm(app, on_globex, email, smtp_server)
    path, page = _landing(on_globex)
    body = page.get_data(as_text=True)
    assert path == "/welcome" and f"You need an invitation to {globex.name}" in body
    assert acme.name not in body
    refused = on_globex.post(f"/welcome/join/{acme.id}", csrf_from_path="/welcome")
    assert refused.status_code == 404
    assert _member_role(acme, email) is None and _member_role(globex, email) is None
    assert on_globex.get(f"/o/{acme.slug}/").status_code == 404
    assert on_globex.get(f"/o/{globex.slug}/").status_code == 404  # not a member
    # Nor does the session reach the installation's host.
    assert not OnHost(client, "localhost").signed_in()


def test_the_org_less_session_lives_on_its_own_host_only(app, client, mail_server, smtp_server):
    org, _ = factories.org_with_members(owner="owner")
    other, _ = factories.org_with_members(owner="owner")
    domain = _custom_domain(org)
    custom = OnHost(client, domain)
    email = f"kim-{secrets.token_hex(4)}@nowhere.example"
    _sign_up_and_confirm(app, custom, email, smtp_server)
    assert custom.signed_in()
    kept = client.get_cookie("tenantdesk_session", domain=domain).value
    for host in ("localhost", host_of(org), host_of(other)):
        replay = app.test_client()
        replay.set_cookie("tenantdesk_session", kept, domain=host)
        assert not OnHost(replay, host).signed_in(), host
    # The custom domain un-verified: the session opened on it ends, its row revoked too.
    factories.execute("UPDATE custom_domains SET verified_at = NULL WHERE domain = :d", d=domain)
    assert factories.execute(
        "SELECT s.revoked_reason FROM user_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE lower(u.email) = lower(:e)", e=email).scalars().all() == [
        "custom domain unverified"]
    assert not custom.signed_in()


def test_a_non_member_with_orgs_elsewhere_still_gets_no_session_on_the_org_host(client):
    """Unchanged: someone whose orgs are elsewhere is told where to sign in instead."""
    org, _ = factories.org_with_members(owner="owner")
    _, people = factories.org_with_members(owner="owner")
    host = OnHost(client, host_of(org))
    response = host.login(people["owner"])
    assert response.status_code == 403 and f"not a member of {org.name}" in response.get_data(
        as_text=True)
    assert not host.signed_in()


def test_once_they_are_made_a_member_the_org_host_lets_them_in(
        app, client, mail_server, smtp_server):
    org, _ = factories.org_with_members(owner="owner")
    host = OnHost(client, host_of(org))
    email = f"lee-{secrets.token_hex(4)}@elsewhere.example"
    _sign_up_and_confirm(app, host, email, smtp_server)
    assert "You need an invitation" in _landing(host)[1].get_data(as_text=True)
    user_id = factories.execute("SELECT id FROM users WHERE lower(email) = lower(:e)",
                                e=email).scalar_one()
    factories.MembershipFactory(org_id=org.id, user_id=user_id, role="member")
    path, page = _landing(host)  # the same browser session, no new sign-in
    assert path == f"/o/{org.slug}/" and page.status_code == 200
    assert org.name in page.get_data(as_text=True)
