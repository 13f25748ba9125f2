"""Password spraying from one address is throttled across emails, and throttling itself tells
nobody whether an account exists."""

from __future__ import annotations

import re
import secrets

from tests import factories
from tests.conftest import make_app
from tests.helpers import login


def _client_from(app, ip: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _fresh_ip() -> str:
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"  # documentation range


def test_failures_across_many_emails_from_one_address_are_throttled(database_urls, tmp_path):
    app = make_app(database_urls, tmp_path, LOGIN_MAX_FAILURES_PER_IP=4)
    try:
        _, people = factories.org_with_members(owner="owner")
        sprayer = _client_from(app, _fresh_ip())
        for n in range(4):  # four different emails, never the same one twice
            assert login(sprayer, f"spray-{n}-{secrets.token_hex(3)}@example.com",
                         "Winter2024!").status_code == 401
        blocked = login(sprayer, people["owner"])  # even a right password now waits
        assert blocked.status_code == 429
        assert "Too many failed sign-in attempts" in blocked.get_data(as_text=True)
        # The account itself is not locked for everyone else.
        assert login(_client_from(app, _fresh_ip()), people["owner"]).status_code == 302
    finally:
        app.extensions["tenantdesk.db"].dispose()


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(app):
    _, people = factories.org_with_members(owner="owner")
    answers = []
    for email in (people["owner"].email, f"nobody-{secrets.token_hex(4)}@example.com"):
        client = _client_from(app, _fresh_ip())
        responses = [login(client, email, "wrong password")
                     for _ in range(app.config["LOGIN_MAX_FAILURES"] + 1)]
        answers.append([(r.status_code, _ALERT.search(r.get_data(as_text=True)).group(1))
                        for r in responses])
    known, unknown = answers
    assert known == unknown
    assert known[0] == (401, "Incorrect email or password.")
    assert known[-1][0] == 429


_ALERT = re.compile(r'role="alert"[^>]*>([^<]*)<')
