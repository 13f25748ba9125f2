"""SAML sign-in end to end: the real start, ACS and pick-up endpoints, with responses signed by
a real IdP implementation (tests/support/saml_idp.py). Every attack starts from a response
that validated, then is re-signed, wrapped, edited, replayed or re-addressed."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import time
import zlib

import pytest
from lxml import etree

from tests import factories
from tests.helpers import csrf_token, login
from tests.support.saml_idp import NS, make_keypair, q, read_authn_request, to_post
from tests.support.sso import (
    audit_actions,
    idp_redirect,
    post_to_acs,
    saml_login,
    saml_org,
    session_row,
    start,
)


def assert_refused(response, reason_fragment: str = ""):
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:500]
    assert "Single sign-on did not sign you in" in page
    assert reason_fragment in page, page[:1500]


def assert_signed_out(client, setup):
    assert session_row(client) is None
    assert client.get(f"/o/{setup.org.slug}/").status_code == 302  # to sign in


def test_first_login_provisions_user_and_membership(client, setup):
    email = setup.email("newcomer")
    response = saml_login(client, setup, name_id=email, attributes={"name": "New Comer"})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/o/{setup.org.slug}/")
    row = session_row(client)
    assert row.auth_method == "sso" and row.sso_org_id == setup.org.id
    assert row.org_id == setup.org.id
    user = factories.execute("SELECT id, name, password_hash FROM users WHERE email = :e",
                             e=email).one()
    assert user.name == "New Comer" and user.password_hash is None
    role = factories.execute("SELECT role FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=setup.org.id, u=user.id).scalar()
    assert role == "member"
    page = client.get(f"/o/{setup.org.slug}/").get_data(as_text=True)
    assert setup.org.name in page
    actions = [a for a, _ in audit_actions(setup.org.id)]
    assert "sso.login" in actions


def test_next_login_finds_the_same_user_by_identity(client, app, setup):
    email = setup.email("repeat")
    saml_login(client, setup, name_id=email)
    again = app.test_client()
    saml_login(again, setup, name_id=email)
    assert factories.execute("SELECT count(*) FROM users WHERE email = :e", e=email).scalar() == 1
    assert factories.execute(
        "SELECT count(*) FROM sso_identities WHERE connection_id = :c", c=setup.conn.id
    ).scalar() == 1


def test_group_mapping_sets_the_role(client, setup):
    factories.execute(
        "UPDATE sso_connections SET attribute_map = :m WHERE id = :c",
        m='{"groups": "groups", "group_roles": {"tenantdesk-admins": "admin"}}', c=setup.conn.id,
    )
    email = setup.email("grouped")
    saml_login(client, setup, name_id=email, attributes={"groups": ["eng", "tenantdesk-admins"]})
    role = factories.execute(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = :e",
        e=email).scalar()
    assert role == "admin"


# --------------------------------------------------------------------------- refusals


def resigned_with_another_key(idp, url):
    key, cert = make_keypair("attacker")
    response = idp.answer(url)
    assertion = response.find(q("saml:Assertion"))
    assertion.remove(assertion.find(q("ds:Signature")))
    idp.sign(assertion, key_pem=key, cert_pem=cert)  # attacker's cert travels in KeyInfo
    return response


def unsigned(idp, url):
    response = idp.answer(url)
    assertion = response.find(q("saml:Assertion"))
    assertion.remove(assertion.find(q("ds:Signature")))
    return response


def edited_after_signing(idp, url):
    response = idp.answer(url)
    response.find(".//saml:NameID", NS).text = "ceo@evil.test"
    return response


def _evil_copy(assertion, name_id="admin@evil.test"):
    evil = copy.deepcopy(assertion)
    signature = evil.find(q("ds:Signature"))
    if signature is not None:
        evil.remove(signature)
    evil.set("ID", "_evil")
    evil.find(".//saml:NameID", NS).text = name_id
    return evil


def wrapped_beside(idp, url):
    response = idp.answer(url)
    response.append(_evil_copy(response.find(q("saml:Assertion"))))
    return response


def wrapped_inside_signature(idp, url):
    response = idp.answer(url)
    signed = response.find(q("saml:Assertion"))
    holder = etree.SubElement(signed.find(q("ds:Signature")), q("ds:Object"))
    holder.append(_evil_copy(signed))
    return response


def wrapped_in_extensions(idp, url):
    """Classic XSW: the evil assertion in place, the signed original hidden in Extensions."""
    response = idp.answer(url)
    signed = response.find(q("saml:Assertion"))
    response.replace(signed, _evil_copy(signed))
    extensions = etree.Element(q("samlp:Extensions"))
    response.find(q("saml:Issuer")).addnext(extensions)
    extensions.append(signed)
    return response


def expired(idp, url):
    return idp.answer(url, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))


def wrong_audience(idp, url):
    return idp.answer(url, audience="https://other-sp.example.test/metadata")


def wrong_destination(idp, url):
    return idp.answer(url, destination="https://evil.example.test/acs")


def wrong_in_response_to(idp, url):
    return idp.answer(url, in_response_to="ONELOGIN_not_our_request_id_000000")


def wrong_issuer(idp, url):
    return idp.answer(url, issuer="https://evil-idp.example.test/")


def sha1_signed(idp, url):
    request = read_authn_request(url)
    response = idp.response(acs_url=request.get("AssertionConsumerServiceURL"),
                            audience=request.find(q("saml:Issuer")).text,
                            in_response_to=request.get("ID"))
    return idp.sign_assertion(response, sha1=True)


def external_entity(idp, url):
    body = etree.tostring(idp.answer(url))
    body = body.replace(b"<saml:Issuer>", b"<saml:Issuer>&xxe;", 1)
    return b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + body


def entity_expansion(idp, url):
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    body = etree.tostring(idp.answer(url)).replace(b"<saml:Issuer>", b"<saml:Issuer>&l9;", 1)
    return f"<!DOCTYPE r [{''.join(entities)}]>".encode() + body


def not_xml(idp, url):
    return b"<samlp:Response"


REFUSALS = {
    "unsigned": (unsigned, "not signed"),
    "signed with another key": (resigned_with_another_key, "does not verify"),
    "edited after signing": (edited_after_signing, "does not verify"),
    "wrapping: unsigned assertion beside": (wrapped_beside, "exactly one signed assertion"),
    "wrapping: inside the signature": (wrapped_inside_signature, "exactly one signed assertion"),
    "wrapping: signed one moved to Extensions": (wrapped_in_extensions,
                                                 "exactly one signed assertion"),
    "expired": (expired, "expired"),
    "wrong audience": (wrong_audience, "audience"),
    "wrong destination": (wrong_destination, "destination"),
    "wrong InResponseTo": (wrong_in_response_to, "did not make"),
    "wrong issuer": (wrong_issuer, "issuer"),
    "sha1 signature": (sha1_signed, "deprecated algorithm"),
    "external entity": (external_entity, "not well-formed XML"),
    "entity expansion": (entity_expansion, "not well-formed XML"),
    "not xml": (not_xml, "not well-formed XML"),
}


@pytest.mark.parametrize("attack", REFUSALS)
def test_hostile_response_is_refused_with_a_clear_page_and_no_session(client, setup, attack):
    build, reason = REFUSALS[attack]
    url = start(client, setup.conn.id)
    payload = build(setup.idp, url)
    value = base64.b64encode(payload).decode() if isinstance(payload, bytes) else to_post(payload)
    response = post_to_acs(client, setup.conn.id, value)
    assert_refused(response, reason)
    assert_signed_out(client, setup)
    failures = [d for a, d in audit_actions(setup.org.id) if a == "sso.login_failed"]
    assert failures and reason.split()[0] in failures[-1]["reason"]


def test_comment_in_name_id_cannot_shorten_the_identity(client, app, setup):
    """alice@corp<!---->.evil.test: the signature survives (c14n drops comments) but the
    identity read is the whole signed value, never 'alice@corp'."""
    victim = setup.email("alice")
    saml_login(app.test_client(), setup, name_id=victim)  # alice's identity exists
    url = start(client, setup.conn.id)
    signed = etree.tostring(setup.idp.answer(url, name_id=victim + ".evil.test"))
    injected = signed.replace(victim.encode() + b".evil.test",
                              victim.encode() + b"<!---->.evil.test")
    assert injected != signed
    response = post_to_acs(client, setup.conn.id, base64.b64encode(injected).decode())
    assert_refused(response, "domain is not verified")  # a new, unverified identity
    assert_signed_out(client, setup)


def test_replayed_response_is_refused(client, app, setup):
    url = start(client, setup.conn.id)
    signed = to_post(setup.idp.answer(url, name_id=setup.email("replayer")))
    assert post_to_acs(client, setup.conn.id, signed).status_code == 303
    other = app.test_client()
    start(other, setup.conn.id)
    assert_refused(post_to_acs(other, setup.conn.id, signed), "replay")
    assert_signed_out(other, setup)


def test_response_picked_up_by_another_browser_is_refused(client, app, setup):
    url = start(client, setup.conn.id)
    thief = app.test_client()
    response = post_to_acs(thief, setup.conn.id, setup.idp.answer(url, name_id=setup.email()))
    assert_refused(response, "not started in this browser")
    assert_signed_out(thief, setup)


def test_unsolicited_response_refused_unless_the_org_allows_idp_initiated(client, setup):
    acs_url = f"http://127.0.0.1:5000/sso/saml/{setup.conn.id}/acs"
    audience = f"http://127.0.0.1:5000/sso/saml/{setup.conn.id}/metadata"

    def unsolicited():
        return setup.idp.sign_assertion(setup.idp.response(
            acs_url=acs_url, audience=audience, in_response_to=None,
            name_id=setup.email("idp-started")))

    assert_refused(post_to_acs(client, setup.conn.id, unsolicited()), "IdP-initiated")
    factories.execute("UPDATE sso_connections SET allow_idp_initiated = true WHERE id = :c",
                      c=setup.conn.id)
    first = unsolicited()
    assert post_to_acs(client, setup.conn.id, first).status_code == 303
    assert session_row(client).auth_method == "sso"
    assert_refused(post_to_acs(client.application.test_client(), setup.conn.id, first),
                   "replay")


def test_response_from_org_a_idp_posted_to_org_b_acs_is_refused(client, idp):
    """Both orgs even trust the same IdP certificate: A's response still never opens B."""
    org_a, org_b = saml_org(idp), saml_org(idp)
    url_a = start(client, org_a.conn.id)
    start(client, org_b.conn.id)  # B has a login in flight in this browser too
    for_a = org_a.idp.answer(url_a, name_id=org_a.email())
    response = post_to_acs(client, org_b.conn.id, for_a)
    assert_refused(response)
    assert session_row(client) is None
    # Re-addressed to B's ACS and audience by the attacker: the signature breaks.
    readdressed = copy.deepcopy(for_a)
    readdressed.set("Destination", f"http://127.0.0.1:5000/sso/saml/{org_b.conn.id}/acs")
    readdressed.find(".//saml:Audience", NS).text = (
        f"http://127.0.0.1:5000/sso/saml/{org_b.conn.id}/metadata")
    readdressed.find(".//saml:SubjectConfirmationData", NS).set(
        "Recipient", f"http://127.0.0.1:5000/sso/saml/{org_b.conn.id}/acs")
    assert_refused(post_to_acs(client, org_b.conn.id, readdressed), "does not verify")
    assert client.get(f"/o/{org_b.org.slug}/").status_code == 302


def test_deflate_bomb_on_the_redirect_binding_is_a_fast_400(client, setup):
    bomb = base64.b64encode(zlib.compress(b" " * 20_000_000)[2:-4]).decode()
    assert len(bomb) < 40_000
    began = time.perf_counter()
    response = client.get(f"/sso/saml/{setup.conn.id}/acs", query_string={"SAMLResponse": bomb})
    elapsed = time.perf_counter() - began
    assert_refused(response, "too large")
    assert elapsed < 0.5, elapsed


def test_redirect_binding_response_within_the_cap_is_validated(client, setup):
    url = start(client, setup.conn.id)
    xml = etree.tostring(setup.idp.answer(url, name_id=setup.email("redirected")))
    value = base64.b64encode(zlib.compress(xml)[2:-4]).decode()
    response = client.get(f"/sso/saml/{setup.conn.id}/acs", query_string={"SAMLResponse": value})
    assert response.status_code == 303
    assert client.get(response.headers["Location"]).status_code == 303
    assert session_row(client).auth_method == "sso"


def test_an_existing_account_is_never_taken_over_by_email(client, app, setup):
    """The IdP asserts the email of an existing admin (of this and another org): no session;
    only that account's password can link the identity."""
    other_org, others = factories.org_with_members(owner="owner")
    victim = factories.UserFactory(email=setup.email("victim"))
    factories.MembershipFactory(org_id=setup.org.id, user_id=victim.id, role="admin")
    factories.MembershipFactory(org_id=other_org.id, user_id=victim.id, role="owner")
    response = saml_login(client, setup, name_id=victim.email)
    assert response.status_code == 303 and response.headers["Location"].endswith("/sso/link")
    assert session_row(client) is None
    assert client.get(f"/o/{other_org.slug}/").status_code == 302
    link = client.get("/sso/link")
    assert victim.email in link.get_data(as_text=True)
    token = csrf_token(client, "/sso/link")
    wrong = client.post("/sso/link", data={"csrf_token": token, "password": "guess"})
    assert wrong.status_code == 401 and session_row(client) is None
    from tests.conftest import TEST_PASSWORD

    right = client.post("/sso/link", data={"csrf_token": token, "password": TEST_PASSWORD})
    assert right.status_code == 303
    row = session_row(client)
    assert row.user_id == victim.id and row.auth_method == "sso" and row.org_id == setup.org.id
    assert "sso.login" in [a for a, _ in audit_actions(setup.org.id)]


def test_an_email_outside_the_verified_domains_is_not_provisioned(client, setup):
    response = saml_login(client, setup, name_id="someone@not-verified.test")
    assert_refused(response, "domain is not verified")
    assert factories.execute("SELECT count(*) FROM users WHERE email = 'someone@not-verified.test'"
                             ).scalar() == 0


def test_an_sso_session_opens_only_its_own_org(client, setup):
    other_org, _ = factories.org_with_members(owner="owner")
    email = setup.email("two-orgs")
    saml_login(client, setup, name_id=email)
    user_id = session_row(client).user_id
    factories.MembershipFactory(org_id=other_org.id, user_id=user_id, role="admin")
    response = client.get(f"/o/{other_org.slug}/")
    assert response.status_code == 403
    assert "Sign in again" in response.get_data(as_text=True)
    assert session_row(client).org_id == setup.org.id


def test_sp_metadata_is_served_per_connection(client, setup):
    response = client.get(f"/sso/saml/{setup.conn.id}/metadata")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"/sso/saml/{setup.conn.id}/acs" in body
    assert f'entityID="http://127.0.0.1:5000/sso/saml/{setup.conn.id}/metadata"' in body
    # Metadata is a function of its URL (served before a connection is saved): an unknown id
    # gets metadata naming that id only, nothing of any org.
    unknown = client.get("/sso/saml/00000000-0000-0000-0000-000000000000/metadata")
    assert unknown.status_code == 200
    assert str(setup.conn.id) not in unknown.get_data(as_text=True)


def test_connection_test_shows_claims_and_changes_nothing(client, setup):
    login(client, setup.people["admin"])
    token = csrf_token(client, f"/o/{setup.org.slug}/sso")
    response = client.post(f"/o/{setup.org.slug}/sso/test", data={"csrf_token": token})
    url = idp_redirect(response)
    assert url.startswith(setup.idp.sso_url + "?SAMLRequest=")
    email = setup.email("tester")
    answer = setup.idp.answer(url, name_id=email,
                              attributes={"department": "QA"})
    page = post_to_acs(client, setup.conn.id, answer)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "The connection works" in text
    assert email in text and "department" in text and "QA" in text
    assert factories.execute("SELECT count(*) FROM users WHERE email = :e", e=email).scalar() == 0
    assert session_row(client).user_id == setup.people["admin"].id
    assert "sso.connection_tested" in [a for a, _ in audit_actions(setup.org.id)]
