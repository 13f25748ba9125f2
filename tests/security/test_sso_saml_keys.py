"""The installation's SAML SP key pair at work: signed AuthnRequests an IdP that requires
them accepts, encrypted assertions (and their refusals), the key in long-lived metadata,
the two-step rotation, and Single Logout in both directions."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from dashboard.sso import crypto, saml, sp_keys
from tests import factories
from tests.helpers import csrf_token
from tests.support.saml_idp import (
    encrypt_assertion,
    logout_request,
    logout_response,
    make_keypair,
    read_authn_request,
    redirect_signature_valid,
    signed_redirect,
    unsigned_redirect,
)
from tests.support.sso import idp_redirect, post_to_acs, saml_org, session_row, start


@pytest.fixture
def setup(idp):
    org = saml_org(idp)
    config = saml.IdpConfig(idp.entity_id, idp.sso_url, (idp.cert_b64,), idp.slo_url)
    factories.execute("UPDATE sso_connections SET config = CAST(:c AS jsonb) WHERE id = :i",
                      c=__import__("json").dumps(config.as_config()), i=org.conn.id)
    return org


def _sp(app, connection_id) -> saml.SpConfig:
    with app.app_context():
        session = app.extensions["tenantdesk.db"].sessionmaker()
        try:
            sp = sp_keys.sp_config(session, crypto.key_from_config(app.config),
                                   app.config["BASE_URL"], connection_id)
            session.commit()
            return sp
        finally:
            session.close()


def _metadata_certs(client, connection_id) -> dict[str, list[str]]:
    body = client.get(f"/sso/saml/{connection_id}/metadata").get_data()
    tree = etree.fromstring(body)
    ns = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
    found: dict[str, list[str]] = {}
    for descriptor in tree.iterfind(".//md:KeyDescriptor", ns):
        cert = "".join(descriptor.findtext(".//ds:X509Certificate", namespaces=ns).split())
        found.setdefault(descriptor.get("use"), []).append(cert)
    return found


def test_requests_are_signed_and_an_idp_requiring_signatures_accepts_them(app, client, setup):
    sp = _sp(app, setup.conn.id)
    url = start(client, setup.conn.id)
    query = parse_qs(urlsplit(url).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    # The IdP checks with the certificate it took from our metadata, over the raw query.
    published = _metadata_certs(client, setup.conn.id)["signing"]
    assert published == [sp.signing.certificate]
    assert redirect_signature_valid(url, published[0])
    other_cert = "".join(make_keypair()[1].decode().strip().splitlines()[1:-1])
    assert not redirect_signature_valid(url, other_cert)
    tampered = url.replace("SigAlg=", "RelayState=x&SigAlg=")
    assert not redirect_signature_valid(tampered, published[0])
    response = post_to_acs(client, setup.conn.id, setup.idp.answer(url, name_id=setup.email()))
    assert response.status_code == 303 and session_row(client).auth_method == "sso"


def test_metadata_is_long_lived_and_offers_the_key_for_encryption(client, setup):
    body = client.get(f"/sso/saml/{setup.conn.id}/metadata").get_data(as_text=True)
    valid_until = re.search(r'validUntil="(\d{4})-', body)[1]
    import datetime as dt

    assert int(valid_until) >= dt.date.today().year + 4
    certs = _metadata_certs(client, setup.conn.id)
    assert certs["signing"] == certs["encryption"]
    assert 'AuthnRequestsSigned="true"' in body
    assert f"/sso/saml/{setup.conn.id}/slo" in body


def test_an_encrypted_assertion_signs_in(app, client, setup):
    sp = _sp(app, setup.conn.id)
    url = start(client, setup.conn.id)
    answer = encrypt_assertion(setup.idp.answer(url, name_id=setup.email()), sp.signing.certificate)
    assert b"EncryptedAssertion" in etree.tostring(answer)
    response = post_to_acs(client, setup.conn.id, answer)
    assert response.status_code == 303, response.get_data(as_text=True)[:1500]


def test_an_assertion_encrypted_for_another_key_is_refused(client, setup):
    url = start(client, setup.conn.id)
    stranger = "".join(make_keypair()[1].decode().strip().splitlines()[1:-1])
    answer = encrypt_assertion(setup.idp.answer(url, name_id=setup.email()), stranger)
    response = post_to_acs(client, setup.conn.id, answer)
    assert response.status_code == 400 and session_row(client) is None


def test_a_plain_assertion_is_refused_when_encryption_is_required(client, setup):
    factories.execute("UPDATE sso_connections SET config = config ||"
                      " '{\"want_encrypted_assertions\": true}' WHERE id = :i", i=setup.conn.id)
    url = start(client, setup.conn.id)
    response = post_to_acs(client, setup.conn.id, setup.idp.answer(url, name_id=setup.email()))
    assert response.status_code == 400 and session_row(client) is None


def test_rotation_publishes_the_next_key_first_and_old_encryptions_still_open(app, client,
                                                                                setup):
    before = _sp(app, setup.conn.id)
    with app.app_context():
        session = app.extensions["tenantdesk.db"].sessionmaker()
        key = crypto.key_from_config(app.config)
        assert "Published" in sp_keys.rotate(session, key)
        session.commit()
        published = _metadata_certs(client, setup.conn.id)["signing"]
        assert before.signing.certificate in published and len(published) == 2
        assert "active now" in sp_keys.rotate(session, key)
        session.commit()
        session.close()
    after = _sp(app, setup.conn.id)
    assert after.signing.certificate != before.signing.certificate
    url = start(client, setup.conn.id)
    assert redirect_signature_valid(url, after.signing.certificate)
    # An IdP that still encrypts to the retired certificate keeps working for a while.
    answer = encrypt_assertion(setup.idp.answer(url, name_id=setup.email()),
                               before.signing.certificate)
    assert post_to_acs(client, setup.conn.id, answer).status_code == 303


def _signed_in(client, setup, email=None):
    url = start(client, setup.conn.id)
    email = email or setup.email()
    response = post_to_acs(client, setup.conn.id, setup.idp.answer(url, name_id=email))
    assert response.status_code == 303
    return email


def test_signing_out_ends_our_session_then_the_idps(app, client, setup):
    email = _signed_in(client, setup)
    row = session_row(client)
    token = csrf_token(client, f"/o/{setup.org.slug}/")
    to_idp = idp_redirect(client.post("/logout", data={"csrf_token": token}))
    assert to_idp.startswith(setup.idp.slo_url + "?SAMLRequest=")
    assert redirect_signature_valid(to_idp, _sp(app, setup.conn.id).signing.certificate)
    request = read_authn_request(to_idp)
    assert request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}NameID") == email
    revoked = factories.execute("SELECT revoked_at FROM user_sessions WHERE id = :i",
                                i=row_id(row, client)).scalar()
    assert revoked is not None  # ended before the browser even reached the IdP
    slo_url = f"http://127.0.0.1:5000/sso/saml/{setup.conn.id}/slo"
    back = signed_redirect(slo_url, "SAMLResponse",
                           logout_response(setup.idp.entity_id, slo_url, request.get("ID")),
                           setup.idp.key_pem)
    done = client.get(back.removeprefix("http://127.0.0.1:5000"))
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    # The same response again (no pending request in this browser) is refused.
    assert client.get(back.removeprefix("http://127.0.0.1:5000")).status_code == 400


def row_id(row, client):
    return factories.execute("SELECT id FROM user_sessions WHERE user_id = :u"
                             " ORDER BY created_at DESC LIMIT 1", u=row.user_id).scalar()


def test_an_idp_initiated_logout_ends_that_persons_sessions_only(app, client, setup):
    email = _signed_in(client, setup)
    colleague = app.test_client()
    _signed_in(colleague, setup, setup.email("colleague"))
    slo_url = f"http://127.0.0.1:5000/sso/saml/{setup.conn.id}/slo"
    request = logout_request(setup.idp.entity_id, slo_url, email)
    answer = client.application.test_client().get(
        signed_redirect(slo_url, "SAMLRequest", request, setup.idp.key_pem)
        .removeprefix("http://127.0.0.1:5000"))
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.startswith(setup.idp.slo_url + "?SAMLResponse=")
    assert redirect_signature_valid(location, _sp(app, setup.conn.id).signing.certificate)
    assert client.get(f"/o/{setup.org.slug}/").status_code == 302  # signed out
    assert colleague.get(f"/o/{setup.org.slug}/").status_code == 200  # untouched


@pytest.mark.parametrize("how", ["unsigned", "other key"])
def test_a_logout_request_not_signed_by_the_idp_changes_nothing(app, client, setup, how):
    email = _signed_in(client, setup)
    slo_url = f"http://127.0.0.1:5000/sso/saml/{setup.conn.id}/slo"
    request = logout_request(setup.idp.entity_id, slo_url, email)
    url = unsigned_redirect(slo_url, "SAMLRequest", request) if how == "unsigned" else \
        signed_redirect(slo_url, "SAMLRequest", request, make_keypair()[0])
    answer = app.test_client().get(url.removeprefix("http://127.0.0.1:5000"))
    assert answer.status_code == 400
    assert client.get(f"/o/{setup.org.slug}/").status_code == 200
    assert "sso.logout" not in [a for a, in factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o", o=setup.org.id)]



def test_a_server_that_cannot_open_the_sp_key_degrades_clearly(database_urls, tmp_path, setup):
    """Another SSO_ENCRYPTION_KEY (a misconfigured server): requests go unsigned rather than
    failing, and a connection that requires encryption refuses with a reason, never a 500."""
    import base64
    import os

    from tests.conftest import make_app

    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    app = make_app(database_urls, tmp_path, SSO_ENCRYPTION_KEY=other)
    try:
        client = app.test_client()
        url = start(client, setup.conn.id)
        assert "SigAlg" not in url
        factories.execute("UPDATE sso_connections SET config = config ||"
                          " '{\"want_encrypted_assertions\": true}' WHERE id = :i",
                          i=setup.conn.id)
        url = start(client, setup.conn.id)
        response = post_to_acs(client, setup.conn.id, setup.idp.answer(url, name_id=setup.email()))
        assert response.status_code == 400
        assert "cannot read its SAML key" in response.get_data(as_text=True)
    finally:
        app.extensions["tenantdesk.db"].dispose()
