"""The SSO settings page: configuration from metadata (pasted, uploaded, fetched) or by hand,
bad and hostile input refused with a form error and nothing changed, and another org's
connection or domains out of reach."""

from __future__ import annotations

import io
import time

import pytest

from tests import factories
from tests.helpers import csrf_token, login
from tests.support.http_stub import StubHTTP
from tests.support.saml_idp import TestIdP
from tests.support.sso import audit_actions, saml_org


@pytest.fixture
def admin_client(client):
    org, people = factories.org_with_members(owner="owner", admin="admin", member="member")
    factories.put_on_plan(org, "enterprise")
    login(client, people["admin"])
    client.org, client.people = org, people
    return client


@pytest.fixture
def web():
    with StubHTTP() as server:
        yield server


def post(client, path, data=None, **kwargs):
    token = csrf_token(client, f"/o/{client.org.slug}/sso")
    return client.post(f"/o/{client.org.slug}/sso{path}", data={"csrf_token": token,
                                                                **(data or {})}, **kwargs)


def connection_count(org) -> int:
    return factories.execute("SELECT count(*) FROM sso_connections WHERE org_id = :o",
                             o=org.id).scalar()


def assert_form_error(response, message: str, org):
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:300]
    assert message in page, page[page.find("<main"):][:3000]
    assert connection_count(org) == 0


def test_page_shows_the_setup_forms(admin_client):
    page = admin_client.get(f"/o/{admin_client.org.slug}/sso").get_data(as_text=True)
    assert "Set up SAML 2.0" in page and "Set up OpenID Connect" in page
    assert "Verified domains" in page


def test_the_empty_page_shows_the_sp_values_the_saved_connection_keeps(admin_client, idp):
    """Entity ID, ACS URL, metadata URL and redirect URI exist before anything is saved, and
    saving the connection keeps them (each IdP is registered once)."""
    import html
    import re

    org = admin_client.org
    page = admin_client.get(f"/o/{org.slug}/sso").get_data(as_text=True)

    def value(field_id: str, text: str) -> str:
        return html.unescape(re.search(rf'id="{field_id}" readonly value="([^"]+)"', text)[1])

    entity_id, acs_url = value("sp-entity-id", page), value("sp-acs-url", page)
    redirect_uri = value("oidc-redirect-uri", page)
    for guide in ("okta", "entra", "google", "onelogin", "jumpcloud", "saml"):
        section = page[page.index(f'data-testid="guide-{guide}"'):]
        section = html.unescape(section[:section.index("</details>")])
        assert acs_url in section and entity_id in section, guide
    oidc_guide = page[page.index('data-testid="guide-oidc"'):]
    assert redirect_uri in html.unescape(oidc_guide[:oidc_guide.index("</details>")])
    metadata = admin_client.get(entity_id.removeprefix("http://127.0.0.1:5000"))
    assert metadata.status_code == 200 and acs_url in metadata.get_data(as_text=True)

    assert post(admin_client, "/saml/metadata",
                {"metadata_xml": idp.metadata()}).status_code == 303
    saved = admin_client.get(f"/o/{org.slug}/sso").get_data(as_text=True)
    assert value("sp-entity-id", saved) == entity_id and value("sp-acs-url", saved) == acs_url
    conn_id = factories.execute("SELECT id FROM sso_connections WHERE org_id = :o",
                                o=org.id).scalar()
    assert str(conn_id) in entity_id and str(conn_id) in redirect_uri


def test_the_page_warns_before_the_idps_certificate_expires(client):
    from tests.support.saml_idp import make_keypair

    idp = TestIdP()
    idp.key_pem, idp.cert_pem = make_keypair(valid_days=10)
    setup = saml_org(idp)
    login(client, setup.people["owner"])
    page = client.get(f"/o/{setup.org.slug}/sso").get_data(as_text=True)
    assert 'data-testid="idp-cert-expiring"' in page and "expires in 9 days" in page
    assert 'data-testid="sp-cert-expiring"' not in page  # ours is good for years


def test_members_without_sso_manage_are_refused(client):
    org, people = factories.org_with_members(owner="owner", member="member")
    factories.put_on_plan(org, "enterprise")
    login(client, people["member"])
    assert client.get(f"/o/{org.slug}/sso").status_code == 403


def test_sso_pages_need_a_plan_with_sso(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "free")
    login(client, people["owner"])
    assert client.get(f"/o/{org.slug}/sso").status_code == 403


def test_pasted_metadata_creates_the_connection(admin_client, idp):
    response = post(admin_client, "/saml/metadata", {"metadata_xml": idp.metadata()})
    assert response.status_code == 303
    row = factories.execute("SELECT kind, config FROM sso_connections WHERE org_id = :o",
                            o=admin_client.org.id).one()
    assert row.kind == "saml" and row.config["idp_entity_id"] == idp.entity_id
    assert row.config["certs"] == [idp.cert_b64]
    page = admin_client.get(f"/o/{admin_client.org.slug}/sso").get_data(as_text=True)
    assert idp.entity_id in page and "/acs" in page and 'data-copy="#sp-acs-url"' in page
    assert "sso.connection_created" in [a for a, _ in audit_actions(admin_client.org.id)]


def test_uploaded_metadata_file_works_too(admin_client, idp):
    response = post(admin_client, "/saml/metadata",
                    {"metadata_file": (io.BytesIO(idp.metadata().encode()), "idp.xml")},
                    content_type="multipart/form-data")
    assert response.status_code == 303
    assert connection_count(admin_client.org) == 1


def test_manual_entry_works(admin_client, idp):
    response = post(admin_client, "/saml/manual", {
        "entity_id": idp.entity_id, "sso_url": idp.sso_url, "certificate": idp.cert_pem.decode()})
    assert response.status_code == 303
    assert connection_count(admin_client.org) == 1


HOSTILE_METADATA = {
    "external entity": lambda idp: idp.metadata().replace(
        '<?xml version="1.0"?>',
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
    "entity expansion": lambda idp: idp.metadata().replace(
        '<?xml version="1.0"?>',
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'),
    "malformed": lambda idp: idp.metadata()[:200],
}


@pytest.mark.parametrize("case", HOSTILE_METADATA)
def test_hostile_or_malformed_metadata_is_a_form_error(admin_client, idp, case):
    response = post(admin_client, "/saml/metadata", {"metadata_xml": HOSTILE_METADATA[case](idp)})
    assert_form_error(response, "not valid IdP metadata", admin_client.org)


def test_xml_that_is_not_idp_metadata_is_a_form_error(admin_client):
    response = post(admin_client, "/saml/metadata",
                    {"metadata_xml": "<html><body>hello</body></html>"})
    assert_form_error(response, "names no IdP entity ID", admin_client.org)


def test_metadata_without_a_certificate_is_a_form_error(admin_client, idp):
    xml = idp.metadata()
    start, end = xml.index("<md:KeyDescriptor"), xml.index("</md:KeyDescriptor>") + 19
    response = post(admin_client, "/saml/metadata", {"metadata_xml": xml[:start] + xml[end:]})
    assert_form_error(response, "no signing certificate", admin_client.org)


def test_bad_certificate_by_hand_is_a_form_error(admin_client, idp):
    response = post(admin_client, "/saml/manual", {
        "entity_id": idp.entity_id, "sso_url": idp.sso_url, "certificate": "not a cert"})
    assert_form_error(response, "not an X.509 certificate", admin_client.org)


def test_metadata_url_is_fetched(admin_client, idp, web):
    url = web.serve("/metadata", idp.metadata())
    response = post(admin_client, "/saml/url", {"metadata_url": url})
    assert response.status_code == 303
    assert connection_count(admin_client.org) == 1


def test_slow_metadata_url_gives_up_in_time(app, admin_client, web, monkeypatch):
    monkeypatch.setitem(app.config, "SSO_FETCH_TIMEOUT", 0.5)
    url = web.trickle("/slow", seconds=10)
    began = time.perf_counter()
    response = post(admin_client, "/saml/url", {"metadata_url": url})
    elapsed = time.perf_counter() - began
    assert_form_error(response, "took longer than", admin_client.org)
    assert elapsed < app.config["SSO_FETCH_TIMEOUT"] + 1.5, elapsed


def test_huge_metadata_url_is_cut_off(admin_client, web):
    url = web.huge("/huge", megabytes=20)
    response = post(admin_client, "/saml/url", {"metadata_url": url})
    assert_form_error(response, "larger than 1024 KiB", admin_client.org)


def test_redirecting_metadata_url_is_refused(admin_client, web, idp):
    target = web.serve("/real", idp.metadata())
    url = web.redirect("/moved", target)
    response = post(admin_client, "/saml/url", {"metadata_url": url})
    assert_form_error(response, "redirects elsewhere", admin_client.org)
    assert "/real" not in web.requested


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_private_metadata_url_refused_in_production(app, admin_client, web, idp, monkeypatch,
                                                    host):
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_METADATA_URLS", False)
    url = web.serve("/metadata", idp.metadata()).replace("127.0.0.1", host).replace(
        "http://", "https://")
    response = post(admin_client, "/saml/url", {"metadata_url": url})
    assert_form_error(response, "private or reserved address", admin_client.org)
    assert web.requested == []  # refused before connecting


def test_plain_http_metadata_url_refused_in_production(app, admin_client, monkeypatch):
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_METADATA_URLS", False)
    response = post(admin_client, "/saml/url", {"metadata_url": "http://idp.example.test/md"})
    assert_form_error(response, "https://", admin_client.org)


def test_another_orgs_connection_and_domains_are_out_of_reach(client, idp):
    org_b = saml_org(idp)
    domain_b = factories.SsoDomainFactory(org_id=org_b.org.id, verified_at=None)
    org_a, people_a = factories.org_with_members(owner="owner")
    factories.put_on_plan(org_a, "enterprise")
    login(client, people_a["owner"])
    assert client.get(f"/o/{org_b.org.slug}/sso").status_code == 404
    token = csrf_token(client, f"/o/{org_a.slug}/sso")
    page = client.get(f"/o/{org_a.slug}/sso").get_data(as_text=True)
    assert domain_b.domain not in page and org_b.domain not in page
    for path in (f"/domains/{domain_b.id}/verify", f"/domains/{domain_b.id}/delete"):
        response = client.post(f"/o/{org_a.slug}/sso{path}", data={"csrf_token": token})
        assert response.status_code == 404, path
    assert client.post(f"/o/{org_a.slug}/sso/delete",
                       data={"csrf_token": token}).status_code == 404
    assert factories.execute("SELECT count(*) FROM sso_domains WHERE id = :d",
                             d=domain_b.id).scalar() == 1
    assert factories.execute("SELECT count(*) FROM sso_connections WHERE id = :c",
                             c=org_b.conn.id).scalar() == 1
    # Posting to B's URLs goes through the switch (membership checked): 404 as well.
    response = client.post(f"/o/{org_b.org.slug}/sso/delete", data={"csrf_token": token})
    assert response.status_code == 404


def test_connection_rows_are_invisible_across_orgs_in_the_database(runtime_sessions, idp):
    from sqlalchemy import text

    from dashboard import tenancy

    org_a, org_b = saml_org(idp), saml_org(idp)
    context = tenancy.TenantContext(user_id=org_a.people["owner"].id, org_id=org_a.org.id)
    with tenancy.scoped_session(runtime_sessions, context) as db:
        seen = db.execute(text("SELECT org_id FROM sso_connections")).scalars().all()
        assert seen == [org_a.org.id]
        assert db.execute(text("UPDATE sso_connections SET require_sso = true WHERE id = :c"),
                          {"c": org_b.conn.id}).rowcount == 0
        assert db.execute(text("DELETE FROM sso_domains WHERE org_id = :o"),
                          {"o": org_b.org.id}).rowcount == 0
        assert db.execute(text("SELECT count(*) FROM sso_identities WHERE org_id = :o"),
                          {"o": org_b.org.id}).scalar() == 0


def test_connection_options_survive_new_idp_metadata(client, idp):
    setup = saml_org(idp)
    login(client, setup.people["owner"])
    token = csrf_token(client, f"/o/{setup.org.slug}/sso")
    saved = client.post(f"/o/{setup.org.slug}/sso/options", data={
        "csrf_token": token, "default_role": "member", "owner_break_glass": "y",
        "identify_by": "name_id", "want_encrypted_assertions": "y"})
    assert saved.status_code == 303
    refused = client.post(f"/o/{setup.org.slug}/sso/options", data={
        "csrf_token": token, "default_role": "member", "identify_by": "guess"})
    assert refused.status_code == 400
    token = csrf_token(client, f"/o/{setup.org.slug}/sso")
    assert client.post(f"/o/{setup.org.slug}/sso/saml/metadata", data={
        "csrf_token": token, "metadata_xml": idp.metadata()}).status_code == 303
    config = factories.execute("SELECT config FROM sso_connections WHERE id = :c",
                               c=setup.conn.id).scalar()
    assert config["identify_by"] == "name_id" and config["want_encrypted_assertions"] is True
    assert config["slo_url"] == idp.slo_url  # read from the IdP's metadata
