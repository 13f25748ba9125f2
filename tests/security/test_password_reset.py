"""Forgot password: a real SMTP server receives the link; every attack on the link is a test."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import urlsplit

import pytest

from dashboard.accounts.background import background
from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.helpers import bearer_headers, csrf_token, login

NEW_PASSWORD = "granite otter lantern 77"
RESET = "Reset your Tenantdesk password"


def ask_reset(client, email):
    token = csrf_token(client, "/forgot-password")
    return client.post("/forgot-password", data={"csrf_token": token, "email": email})


def reset_link(smtp_server, email, skip=()) -> str:
    message = smtp_server.wait_for(
        to=email, where=lambda m: m["Subject"] == RESET and m["Message-ID"] not in skip)
    return urlsplit(smtp_server.first_link(message, "/reset-password/")).path


def set_password(client, path, password=NEW_PASSWORD, confirm=None):
    token = csrf_token(client, "/forgot-password")
    return client.post(path, data={"csrf_token": token, "password": password,
                                   "confirm": confirm or password})


def password_hash(user):
    return factories.execute("SELECT password_hash FROM users WHERE id = :u", u=user.id).scalar()


def live_sessions(user):
    return factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL", u=user.id).scalar()


def test_reset_by_mail_signs_everything_out_and_the_new_password_works(
        app, client, mail_server, smtp_server):
    org, people = factories.org_with_members(owner="owner")
    other_org, _ = factories.org_with_members()
    factories.MembershipFactory(org_id=other_org.id, user_id=people["owner"].id, role="member")
    user = people["owner"]
    elsewhere = app.test_client()  # a session on another device
    assert login(elsewhere, user).status_code == 302
    api = bearer_headers(elsewhere)
    assert elsewhere.get("/api/v1/me", headers=api).status_code == 200

    asked = ask_reset(client, user.email.upper())
    assert asked.status_code == 200 and "Check your email" in asked.get_data(as_text=True)
    path = reset_link(smtp_server, user.email)
    form = client.get(path)
    assert form.status_code == 200 and user.email in form.get_data(as_text=True)
    done = set_password(client, path)
    assert done.status_code == 303 and "/login" in done.headers["Location"]

    assert elsewhere.get("/switcher").status_code == 302  # the old session is dead
    assert elsewhere.get("/api/v1/me", headers=api).status_code == 401  # and its tokens
    assert live_sessions(user) == 0
    assert login(client, user, TEST_PASSWORD).status_code == 401
    assert login(client, user, NEW_PASSWORD).status_code == 302
    notice = smtp_server.wait_for(to=user.email,
                                  where=lambda m: "password was reset" in m["Subject"])
    assert "127.0.0.1" in smtp_server.text_of(notice)
    for org_id in (org.id, other_org.id):  # audited in each of the person's orgs
        assert factories.execute(
            "SELECT count(*) FROM audit_events WHERE org_id = :o AND action ="
            " 'account.password_reset' AND actor_user_id = :u AND ip IS NOT NULL",
            o=org_id, u=user.id).scalar() == 1
    # The link is single-use.
    again = client.get(path)
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    assert set_password(app.test_client(), path, "another fine passphrase 9").status_code == 410


_CSRF_HEADER = re.compile(r'"X-CSRFToken": "[^"]+"')


def _without_csrf(response) -> str:
    return _CSRF_HEADER.sub('"X-CSRFToken": "-"', response.get_data(as_text=True))


def test_unknown_and_known_addresses_get_the_same_answer(app, client, mail_server, smtp_server):
    _, people = factories.org_with_members(owner="owner")
    known = ask_reset(client, people["owner"].email)
    unknown = ask_reset(client, "nobody-here@example.com")
    assert known.status_code == unknown.status_code == 200
    # The same page, byte for byte, but for the CSRF token: a signed token carries the second
    # it was signed in, so two requests either side of a second get different ones.
    assert _without_csrf(known) == _without_csrf(unknown)
    background(app).drain()
    smtp_server.wait_for(to=people["owner"].email, where=lambda m: m["Subject"] == RESET)
    assert mail_server.to("nobody-here@example.com") == []


@pytest.fixture
def tarpit():
    """An SMTP 'server' that accepts connections and never answers (a slow mail relay)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"smtp://127.0.0.1:{sock.getsockname()[1]}?timeout=3"
    sock.close()


def test_the_answer_does_not_wait_for_the_mail(app, client, tarpit):
    """The look-up and the mail happen after the response: with a relay that hangs for 3 s,
    the answer for a known address still comes at once, like for an unknown one."""
    _, people = factories.org_with_members(owner="owner")
    previous = app.config.get("SMTP_URL")
    app.config["SMTP_URL"] = tarpit
    try:
        timings = {}
        for label, email in (("known", people["owner"].email), ("unknown", "no-one@example.com")):
            token = csrf_token(client, "/forgot-password")
            started = time.monotonic()
            response = client.post("/forgot-password", data={"csrf_token": token, "email": email})
            timings[label] = time.monotonic() - started
            assert response.status_code == 200
        assert timings["known"] < 1.5, timings
        background(app).drain(timeout=10)
    finally:
        app.config["SMTP_URL"] = previous


def test_used_expired_tampered_and_superseded_links_are_refused(
        app, client, mail_server, smtp_server):
    _, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    ask_reset(client, user.email)
    first = reset_link(smtp_server, user.email)
    first_id = mail_server.last(to=user.email)["Message-ID"]
    ask_reset(client, user.email)
    second = reset_link(smtp_server, user.email, skip={first_id})
    before = password_hash(user)

    assert client.get(first).status_code == 410  # only the newest link counts
    assert set_password(client, first).status_code == 410
    tampered = second[:-3] + ("aaa" if not second.endswith("aaa") else "bbb")
    assert client.get(tampered).status_code == 404
    assert set_password(client, tampered).status_code == 404
    assert client.get("/reset-password/" + "x" * 5000).status_code in (404, 414)
    factories.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'"
                      " WHERE user_id = :u", u=user.id)
    assert client.get(second).status_code == 410
    assert "expired" in client.get(second).get_data(as_text=True)
    assert set_password(client, second).status_code == 410
    assert password_hash(user) == before


def test_a_link_resets_only_its_own_person(app, client, mail_server, smtp_server):
    _, people = factories.org_with_members(alice="member", bob="member")
    ask_reset(client, people["alice"].email)
    path = reset_link(smtp_server, people["alice"].email)
    bob_before = password_hash(people["bob"])
    bob = app.test_client()
    login(bob, people["bob"])
    assert set_password(bob, path).status_code == 303  # Bob holding Alice's link...
    assert password_hash(people["bob"]) == bob_before  # ... changes Alice's password only
    assert login(app.test_client(), people["alice"], NEW_PASSWORD).status_code == 302
    assert bob.get("/switcher").status_code == 200  # and Bob stays signed in


def test_weak_and_mismatched_passwords_are_form_errors(client, mail_server, smtp_server):
    _, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    ask_reset(client, user.email)
    path = reset_link(smtp_server, user.email)
    before = password_hash(user)
    for password, confirm, message in [
        ("short", "short", "at least 10"),
        ("password1234", "password1234", "too easy to guess"),
        (user.email.split("@")[0] + "2024", user.email.split("@")[0] + "2024", "too easy"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "differ"),
    ]:
        response = set_password(client, path, password, confirm)
        assert response.status_code == 400, password
        assert message in response.get_data(as_text=True), password
    assert password_hash(user) == before
    assert client.get(path).status_code == 200  # the link still works


def test_reset_mails_per_address_are_limited(app, client, mail_server, smtp_server):
    _, people = factories.org_with_members(owner="owner")
    email = people["owner"].email
    for _ in range(app.config["ACCOUNT_MAILS_PER_HOUR"] + 2):
        assert ask_reset(client, email).status_code == 200
    background(app).drain()
    sent = [m for m in mail_server.to(email) if m["Subject"] == RESET]
    assert len(sent) == app.config["ACCOUNT_MAILS_PER_HOUR"]


def test_reset_requests_per_address_of_the_client_are_limited(app, client):
    previous = app.config["PASSWORD_RESET_RATE_LIMIT"]
    app.config["PASSWORD_RESET_RATE_LIMIT"] = "3/minute"
    try:
        statuses = [ask_reset(client, f"spray{i}@example.com").status_code for i in range(5)]
    finally:
        app.config["PASSWORD_RESET_RATE_LIMIT"] = previous
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    background(app).drain()


def test_reset_never_opens_an_org_that_requires_sso(app, client, mail_server, smtp_server):
    org, people = factories.org_with_members(member="member")
    factories.put_on_plan(org, "enterprise")  # Require SSO binds only while SSO is included
    factories.SsoConnectionFactory(org_id=org.id, require_sso=True, owner_break_glass=False)
    user = people["member"]
    ask_reset(client, user.email)
    assert set_password(client, reset_link(smtp_server, user.email)).status_code == 303
    response = login(client, user, NEW_PASSWORD)
    assert response.status_code == 403
    assert "requires single sign-on" in response.get_data(as_text=True)
    assert live_sessions(user) == 0


def test_bad_input_is_a_form_error(client):
    token = csrf_token(client, "/forgot-password")
    for email in ["", "not-an-email", "x" * 300 + "@example.com"]:
        response = client.post("/forgot-password", data={"csrf_token": token, "email": email})
        assert response.status_code == 400
    assert client.post("/forgot-password", data={"email": "a@example.com"}).status_code == 400
