"""Returning people whose IdP sends a new NameID at every sign-in (transient or rotating):
recognised by their email at a verified domain when their account has no password, never a
password prompt they cannot answer, and never a way into an account that has a password."""

from __future__ import annotations

import uuid

from tests import factories
from tests.support.sso import post_to_acs, session_row, start

TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


def _sign_in(app, setup, email):
    client = app.test_client()
    url = start(client, setup.conn.id)
    answer = setup.idp.answer(url, name_id=f"_t{uuid.uuid4().hex}", name_id_format=TRANSIENT,
                              attributes={"email": email})
    return client, post_to_acs(client, setup.conn.id, answer)


def _identities(setup, email) -> list:
    return list(factories.execute(
        "SELECT i.subject FROM sso_identities i JOIN users u ON u.id = i.user_id"
        " WHERE i.connection_id = :c AND u.email = :e", c=setup.conn.id, e=email))


def test_a_new_transient_nameid_signs_the_same_person_in(app, setup):
    email = setup.email("tara")
    first, response = _sign_in(app, setup, email)
    assert response.status_code == 303
    user_id = session_row(first).user_id
    again, response = _sign_in(app, setup, email)
    assert response.status_code == 303, response.get_data(as_text=True)[:1500]
    assert "/sso/link" not in response.headers["Location"]
    assert session_row(again).user_id == user_id
    assert len(_identities(setup, email)) == 1  # moved to the new subject, not piled up
    assert factories.execute("SELECT count(*) FROM users WHERE email = :e",
                             e=email).scalar() == 1


def test_identified_by_nameid_only_a_clear_page_and_no_password_prompt(app, setup):
    factories.execute("UPDATE sso_connections SET config = config ||"
                      " '{\"identify_by\": \"name_id\"}' WHERE id = :c", c=setup.conn.id)
    email = setup.email("uma")
    _sign_in(app, setup, email)
    client, response = _sign_in(app, setup, email)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "identified you differently" in page
    assert "Password" not in page and session_row(client) is None
    assert len(_identities(setup, email)) == 1


def test_an_account_with_a_password_is_never_taken_by_email(app, setup):
    person = factories.UserFactory(email=setup.email("pat"))  # has a password
    factories.MembershipFactory(org_id=setup.org.id, user_id=person.id, role="member")
    client, response = _sign_in(app, setup, person.email)
    assert response.status_code == 303 and response.headers["Location"].endswith("/sso/link")
    assert session_row(client) is None and _identities(setup, person.email) == []


def test_an_email_at_an_unverified_domain_matches_nobody(app, setup):
    outsider = factories.UserFactory(email=f"olga@{factories.unique('elsewhere')}.example.com",
                                     password_hash=None)
    client, response = _sign_in(app, setup, outsider.email)
    assert response.status_code == 400 and session_row(client) is None
