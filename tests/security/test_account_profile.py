"""/account: name, email change (verified, old address told), password change."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.helpers import audit_count, csrf_token, login, post

NEW_PASSWORD = "velvet compass harbor 64"


def email_of(user):
    return factories.execute("SELECT email FROM users WHERE id = :u", u=user.id).scalar()


def test_the_account_page_shows_profile_sessions_and_factors(client):
    _, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    page = client.get("/account")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for part in ("Profile", "Change email", "Change password", "Two-factor authentication",
                 "Set up an authenticator app", "Add a passkey", "This device"):
        assert part in text, part
    assert client.application.test_client().get("/account").status_code == 302  # signed out


def test_name_change_is_saved_and_audited(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    assert post(client, "/account/name", {"name": "  Ada   Lovelace "}).status_code == 303
    assert factories.execute("SELECT name FROM users WHERE id = :u",
                             u=people["owner"].id).scalar() == "Ada Lovelace"
    assert audit_count(org, "account.name_change") == 1
    assert post(client, "/account/name", {"name": ""}).status_code == 400
    assert post(client, "/account/name", {"name": "x" * 101}).status_code == 400


def test_email_change_needs_the_new_address_and_tells_the_old(app, client, mail_server,
                                                              smtp_server):
    org, people = factories.org_with_members(owner="owner", other="member")
    user = people["owner"]
    old = user.email
    new = f"new-{secrets.token_hex(4)}@example.com"
    login(client, user)
    wrong = post(client, "/account/email", {"new_email": new, "email_password": "nope nope"})
    assert wrong.status_code == 400 and "not your current password" in wrong.get_data(as_text=True)
    taken = post(client, "/account/email", {"new_email": people["other"].email,
                                            "email_password": TEST_PASSWORD})
    assert taken.status_code == 400 and "Another account" in taken.get_data(as_text=True)
    asked = post(client, "/account/email", {"new_email": new, "email_password": TEST_PASSWORD})
    assert asked.status_code == 303
    assert email_of(user) == old  # nothing changes before the new address confirms
    notice = smtp_server.wait_for(to=old)
    assert new in smtp_server.text_of(notice)
    link = urlsplit(smtp_server.first_link(smtp_server.wait_for(to=new),
                                           "/account/email/confirm/")).path

    other = app.test_client()  # another person holding the link cannot use it
    login(other, people["other"])
    assert post(other, link).status_code == 404
    assert email_of(people["other"]) == people["other"].email

    assert client.get(link).status_code == 200  # a GET changes nothing
    assert email_of(user) == old
    assert post(client, link[:-2] + "zz").status_code == 404
    done = post(client, link)
    assert done.status_code == 303 and email_of(user) == new
    # The org's members list shows the new address too (the membership's copy, migration 0040).
    assert factories.execute("SELECT person_email FROM memberships WHERE org_id = :o"
                             " AND user_id = :u", o=org.id, u=user.id).scalar() == new
    assert post(client, link).status_code == 410  # single use
    assert audit_count(org, "account.email_change") == 1
    smtp_server.wait_for(to=old, where=lambda m: "email was changed" in m["Subject"])


def test_an_expired_email_link_changes_nothing(client, mail_server, smtp_server):
    _, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    new = f"late-{secrets.token_hex(4)}@example.com"
    login(client, user)
    post(client, "/account/email", {"new_email": new, "email_password": TEST_PASSWORD})
    link = urlsplit(smtp_server.first_link(smtp_server.wait_for(to=new),
                                           "/account/email/confirm/")).path
    factories.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'"
                      " WHERE user_id = :u", u=user.id)
    assert post(client, link).status_code == 410
    assert email_of(user) == user.email


def test_password_change_checks_the_current_one_and_ends_other_sessions(app, client,
                                                                        mail_server):
    org, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    elsewhere = app.test_client()
    login(elsewhere, user)
    login(client, user)
    form = {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD}
    assert post(client, "/account/password", {**form, "current_password": "wrong one"}
                ).status_code == 400
    weak = post(client, "/account/password", {**form, "new_password": "qwertyuiop1",
                                               "confirm_password": "qwertyuiop1"})
    assert weak.status_code == 400 and "too easy to guess" in weak.get_data(as_text=True)
    assert post(client, "/account/password", form).status_code == 303
    assert client.get("/account").status_code == 200  # this session stays
    assert elsewhere.get("/account").status_code == 302  # the other one ended
    assert login(app.test_client(), user, NEW_PASSWORD).status_code == 302
    assert audit_count(org, "account.password_change") == 1
    assert "password was changed" in mail_server.last(to=user.email)["Subject"]


def test_profile_forms_need_csrf(client):
    _, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    assert client.post("/account/name", data={"name": "No Token"}).status_code == 400
    token = csrf_token(client, "/account")
    assert client.post("/account/name", data={"name": "With Token",
                                              "csrf_token": token}).status_code == 303
