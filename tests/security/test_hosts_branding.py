"""Branding (owners, a plan feature) and custom domains (owners, DNS-verified): good input
is used on the org's pages and mails; bad input is refused with a clear message, nothing
stored."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests import factories
from tests.helpers import csrf_token, login
from tests.support.dns_stub import StubDNS
from tests.support.hosts import OnHost, host_of, org_hosts


@pytest.fixture(autouse=True)
def _hosts_on(app):
    with org_hosts(app):
        yield


@pytest.fixture
def acme():
    org, people = factories.org_with_members(owner="owner", admin="admin")
    factories.put_on_plan(org, "growth")  # branding, no white label
    return org, people


def _png(size=(64, 32), color=(10, 80, 160), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG", **save)
    return out.getvalue()


def _signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _save(client, org, logo: bytes | None = None, filename="logo.png", **fields):
    data = {"csrf_token": csrf_token(client, f"/o/{org.slug}/branding"),
            "display_name": "", "primary_color": "", "support_contact": "", **fields}
    if logo is not None:
        data["logo"] = (io.BytesIO(logo), filename)
    return client.post(f"/o/{org.slug}/branding", data=data,
                       content_type="multipart/form-data")


def _branding_row(org):
    return factories.execute(
        "SELECT display_name, primary_color, support_contact, white_label, logo_sha256"
        " FROM org_branding WHERE org_id = :o", o=org.id).one_or_none()


def test_an_owner_brands_the_org_and_its_host_shows_it(app, client, acme):
    org, people = acme
    owner = _signed_in(app, people["owner"])
    response = _save(owner, org, _png(), display_name="Acme Robotics",
                     primary_color="#1F4E9C", support_contact="help@acme.example")
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    row = _branding_row(org)
    assert (row.display_name, row.primary_color, row.support_contact) == (
        "Acme Robotics", "#1f4e9c", "help@acme.example")
    audit = factories.execute("SELECT action FROM audit_events WHERE org_id = :o"
                              " AND action = 'branding.updated'", o=org.id).all()
    assert len(audit) == 1

    page = OnHost(client, host_of(org)).get("/login").get_data(as_text=True)
    assert "Sign in to Acme Robotics" in page
    assert f"/branding/logo/{row.logo_sha256}.png" in page
    assert "/branding/theme/1f4e9c.css" in page and "help@acme.example" in page
    logo = OnHost(client, host_of(org)).get(f"/branding/logo/{row.logo_sha256}.png")
    assert logo.status_code == 200 and logo.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(logo.data)).format == "PNG"
    # Not on another org's host, nor anonymously on the installation's.
    other, _ = factories.org_with_members(owner="owner")
    assert OnHost(client, host_of(other)).get(
        f"/branding/logo/{row.logo_sha256}.png").status_code == 404
    assert client.get(f"/branding/logo/{row.logo_sha256}.png").status_code == 404
    # The members' top bar on the installation's host shows the brand too.
    top = owner.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert f"/branding/logo/{row.logo_sha256}.png" in top


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.mark.parametrize("fields, logo, field_message", [
    ({}, SVG, "not a PNG or JPEG"),
    ({}, HTML, "not a PNG or JPEG"),
    ({}, b"\x89PNG\r\n\x1a\n" + HTML, "not a PNG or JPEG"),
    ({}, _png((3000, 20)), "at most 1024×1024"),
    ({}, b"\x89PNG" + b"\x00" * (300 * 1024), "at most 256 KB"),
    ({"primary_color": "#ffdd00"}, None, "WCAG AA needs at least 4.5:1"),
    ({"primary_color": "blue;}body{x"}, None, "#rrggbb"),
    ({"support_contact": "javascript:alert(1)"}, None, "email address or an https:// link"),
    ({"support_contact": "http://plain.example/help"}, None, "email address or an https://"),
])
def test_bad_branding_is_refused_and_nothing_is_stored(app, acme, fields, logo, field_message):
    org, people = acme
    factories.branding(org, logo=False, display_name="Before")
    before = _branding_row(org)
    owner = _signed_in(app, people["owner"])
    response = _save(owner, org, logo, **{"display_name": "After", **fields})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and field_message in body, body[:3000]
    assert "Traceback" not in body
    assert _branding_row(org) == before


def _white_label(client, org, on: bool):
    data = {"csrf_token": csrf_token(client, f"/o/{org.slug}/branding")}
    if on:
        data["white_label"] = "y"
    return client.post(f"/o/{org.slug}/branding/white-label", data=data)


def test_white_label_is_refused_below_the_top_plan(app, acme):
    org, people = acme  # Growth: branding, no white label
    factories.branding(org, logo=False, display_name="Before")
    before = _branding_row(org)
    owner = _signed_in(app, people["owner"])
    assert "part of the Enterprise plan" in owner.get(f"/o/{org.slug}/branding").get_data(
        as_text=True)
    response = _white_label(owner, org, True)
    assert response.status_code == 403
    assert 'data-testid="feature-not-included"' in response.get_data(as_text=True)
    assert _branding_row(org) == before


def test_white_label_on_the_top_plan_removes_tenantdesk(app, client, acme, mail_server):
    org, people = acme
    factories.put_on_plan(org, "enterprise")
    owner = _signed_in(app, people["owner"])
    assert _save(owner, org, display_name="Acme").status_code == 303
    assert _white_label(owner, org, True).status_code == 303
    assert _branding_row(org).white_label is True
    page = OnHost(client, host_of(org)).get("/login").get_data(as_text=True)
    assert "Tenantdesk" not in page
    invitee = f"wl-{factories.unique('x')}@example.com"
    token = csrf_token(owner, f"/o/{org.slug}/invitations")
    owner.post(f"/o/{org.slug}/invitations",
               data={"csrf_token": token, "emails": invitee, "role": "member"})
    message = mail_server.last(to=invitee)
    assert "Tenantdesk" not in message["Subject"] + mail_server.text(message)
    assert "Acme" in message["Subject"]
    # Back on a plan without white label: the name is back, the setting kept.
    factories.put_on_plan(org, "growth")
    assert "Tenantdesk" in OnHost(client, host_of(org)).get("/login").get_data(as_text=True)


def test_branding_is_for_owners_on_plans_that_include_it(app, acme):
    org, people = acme
    assert _signed_in(app, people["admin"]).get(f"/o/{org.slug}/branding").status_code == 403
    factories.put_on_plan(org, "starter")
    response = _signed_in(app, people["owner"]).get(f"/o/{org.slug}/branding")
    assert response.status_code == 403 and "not included" in response.get_data(as_text=True)


# ------------------------------------------------------------------------- custom domains


def _add_domain(client, org, domain):
    token = csrf_token(client, f"/o/{org.slug}/domains")
    return client.post(f"/o/{org.slug}/domains", data={"csrf_token": token, "domain": domain})


def _verify(client, org, domain):
    row = factories.execute("SELECT id FROM custom_domains WHERE org_id = :o AND domain = :d",
                            o=org.id, d=domain).one()
    token = csrf_token(client, f"/o/{org.slug}/domains")
    return client.post(f"/o/{org.slug}/domains/{row.id}/verify", data={"csrf_token": token})


def _token(org, domain):
    return factories.execute("SELECT token FROM custom_domains WHERE org_id = :o AND domain = :d",
                             o=org.id, d=domain).scalar_one()


def test_a_custom_domain_serves_the_org_only_after_verification(app, client, acme):
    org, people = acme
    owner = _signed_in(app, people["owner"])
    domain = f"login.{factories.unique('acme')}.example.com"
    assert _add_domain(owner, org, domain.upper()).status_code == 303
    custom = OnHost(client, domain)
    assert org.name not in custom.get("/login").get_data(as_text=True)  # not yet
    with StubDNS() as dns:
        app.config["DNS_RESOLVER"] = dns.address
        try:
            refused = _verify(owner, org, domain)
            assert refused.status_code == 400
            assert "No TXT record" in refused.get_data(as_text=True)
            assert org.name not in custom.get("/login").get_data(as_text=True)
            dns.set_txt(f"_tenantdesk-challenge.{domain}",
                        f"tenantdesk-verification={_token(org, domain)}")
            assert _verify(owner, org, domain).status_code == 303
        finally:
            app.config["DNS_RESOLVER"] = "127.0.0.1:9"
    assert f"Sign in to {org.name}" in custom.get("/login").get_data(as_text=True)
    actions = [r.action for r in factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o AND action LIKE 'host.%' ORDER BY at",
        o=org.id)]
    assert actions == ["host.domain_added", "host.domain_verified"]


@pytest.mark.parametrize("domain, message", [
    ("not a domain", "Enter a domain"),
    ("10.0.0.1", "not an IP address"),
    ("someone@example.com", "host name such as"),
    ("globex.localhost", "belongs to this installation"),
    ("localhost.", "Enter a domain"),
])
def test_bad_custom_domains_are_refused(app, acme, domain, message):
    org, people = acme
    owner = _signed_in(app, people["owner"])
    response = _add_domain(owner, org, domain)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM custom_domains WHERE org_id = :o",
                             o=org.id).scalar_one() == 0


def test_another_orgs_verified_domain_is_refused(app, acme):
    org, people = acme
    other, _ = factories.org_with_members(owner="owner")
    domain = f"login.{factories.unique('taken')}.example.com"
    factories.CustomDomainFactory(org_id=other.id, domain=domain,
                                  verified_at=factories.execute("SELECT now()").scalar_one())
    owner = _signed_in(app, people["owner"])
    response = _add_domain(owner, org, domain)
    assert response.status_code == 400
    assert "Another organization has verified this domain" in response.get_data(as_text=True)
    # Claimed before the other org verified it: verifying is refused the same way.
    pending = f"login.{factories.unique('race')}.example.com"
    assert _add_domain(owner, org, pending).status_code == 303
    factories.CustomDomainFactory(org_id=other.id, domain=pending,
                                  verified_at=factories.execute("SELECT now()").scalar_one())
    with StubDNS() as dns:
        app.config["DNS_RESOLVER"] = dns.address
        dns.set_txt(f"_tenantdesk-challenge.{pending}",
                    f"tenantdesk-verification={_token(org, pending)}")
        try:
            response = _verify(owner, org, pending)
        finally:
            app.config["DNS_RESOLVER"] = "127.0.0.1:9"
    assert response.status_code == 400
    assert "Another organization has verified" in response.get_data(as_text=True)


def _verified_domain(org) -> str:
    domain = f"login.{factories.unique('bound')}.example.com"
    factories.CustomDomainFactory(org_id=org.id, domain=domain,
                                  verified_at=factories.execute("SELECT now()").scalar_one())
    return domain


@pytest.mark.parametrize("how", ["removed", "unverified", "removed-and-claimed-again"])
def test_a_custom_domain_that_stops_serving_the_org_ends_the_sessions_opened_on_it(
        app, client, acme, how):
    org, people = acme
    domain = _verified_domain(org)
    custom = OnHost(client, domain)
    assert custom.login(people["admin"]).status_code == 302
    assert custom.signed_in() and custom.get(f"/o/{org.slug}/").status_code == 200
    kept = client.get_cookie("tenantdesk_session", domain=domain).value
    admin = people["admin"]
    # The session row records the domain it was opened on; the same person elsewhere: not.
    opened_here = factories.execute(
        "SELECT s.id FROM user_sessions s JOIN custom_domains d ON d.id = s.host_domain_id"
        " WHERE s.user_id = :u AND d.domain = :d AND s.revoked_at IS NULL",
        u=admin.id, d=domain).scalars().all()
    assert len(opened_here) == 1
    elsewhere = _signed_in(app, admin)
    if how == "unverified":
        factories.execute("UPDATE custom_domains SET verified_at = NULL WHERE domain = :d",
                          d=domain)
    else:
        owner = _signed_in(app, people["owner"])
        row = factories.execute("SELECT id FROM custom_domains WHERE domain = :d",
                                d=domain).scalar_one()
        token = csrf_token(owner, f"/o/{org.slug}/domains")
        removed = owner.post(f"/o/{org.slug}/domains/{row}/delete", data={"csrf_token": token})
        assert removed.status_code == 303
        if how == "removed-and-claimed-again":  # the same name, a new row: still ended
            factories.CustomDomainFactory(
                org_id=org.id, domain=domain,
                verified_at=factories.execute("SELECT now()").scalar_one())
    # The server-side row is revoked in the same transaction, before any request comes.
    reason = factories.execute("SELECT revoked_reason FROM user_sessions WHERE id = :s",
                               s=opened_here[0]).scalar_one()
    assert reason == ("custom domain unverified" if how == "unverified"
                      else "custom domain removed")
    assert OnHost(elsewhere, "localhost").signed_in()  # the installation's session lives on
    # The very next request on that host: signed out, not served as the org.
    page = custom.get(f"/o/{org.slug}/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert not custom.signed_in()
    # The cookie kept from before, replayed on that host or on the installation's: no one.
    for host in (domain, "localhost", host_of(org)):
        replay = app.test_client()
        replay.set_cookie("tenantdesk_session", kept, domain=host)
        assert not OnHost(replay, host).signed_in(), host
        assert OnHost(replay, host).get(f"/o/{org.slug}/").status_code in (302, 404), host


def test_a_session_bound_to_an_org_host_is_refused_on_every_other_host(app, client, acme):
    org, people = acme
    other, other_people = factories.org_with_members(owner="owner")
    factories.MembershipFactory(org_id=other.id, user_id=people["admin"].id, role="admin")
    on_acme = OnHost(client, host_of(org))
    on_acme.login(people["admin"])
    assert on_acme.signed_in()  # and so the binding is in the cookie now
    kept = client.get_cookie("tenantdesk_session", domain=host_of(org)).value
    for host in ("localhost", _verified_domain(other)):
        replay = app.test_client()
        replay.set_cookie("tenantdesk_session", kept, domain=host)
        assert not OnHost(replay, host).signed_in(), host
    assert on_acme.signed_in()  # on its own host it still is
