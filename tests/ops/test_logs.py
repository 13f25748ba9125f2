"""Logs: one line per request with ids, never a secret; the request id; the proxy in front."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from dashboard.apikeys import tokens
from dashboard.ops import logs
from tests import factories
from tests.api.conftest import api_org, bearer
from tests.conftest import TEST_PASSWORD, make_app
from tests.helpers import bearer_headers, csrf_from, login, post

KEY_RE = re.compile(r"td_live_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")
NEW_PASSWORD = "logs-never-see-this passphrase 7"


@pytest.fixture
def captured():
    """Every record of every logger, down to DEBUG, as the JSON lines LOG_FORMAT=json makes
    (but the test's own SMTP server, aiosmtpd's ``mail.log``: it logs the mail it receives)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.formatter("json"))
    handler.addFilter(logs.RequestIdFilter())
    handler.addFilter(lambda record: not record.name.startswith("mail.log"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_flow_full_of_secrets_leaves_none_in_the_logs(app, client, mail_server, captured):
    org, people = api_org("starter", owner="owner")
    owner = people["owner"]
    login(client, owner)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    created = post(client, f"/o/{org.slug}/api-keys",
                   {"name": "logged?", "scopes": ["members:read"]})
    assert created.status_code == 201
    api_key = KEY_RE.search(created.get_data(as_text=True)).group(0)
    assert app.test_client().get("/api/v1/org", headers=bearer(api_key)).status_code == 200
    access = bearer_headers(client)
    assert app.test_client().get("/api/v1/me", headers=access).status_code == 200
    invited = post(client, f"/o/{org.slug}/invitations",
                   {"emails": "logs.newcomer@example.com", "role": "member", "message": ""})
    assert invited.status_code == 303
    (link,) = mail_server.links(mail_server.last(to="logs.newcomer@example.com"))
    path = "/" + link.split("/", 3)[3]
    invitation_token = path.rsplit("/", 1)[1]
    invitee = app.test_client()
    page = invitee.get(path)
    joined = invitee.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                      "name": "Logs Newcomer", "password": NEW_PASSWORD,
                                      "confirm": NEW_PASSWORD})
    assert joined.status_code == 303
    bad = app.test_client().post("/login", data={"email": owner.email,
                                                 "password": "wrong " + TEST_PASSWORD})
    assert bad.status_code in (400, 401)

    text = captured.getvalue()
    secrets = {
        "password": TEST_PASSWORD,
        "new password": NEW_PASSWORD,
        "session cookie": cookie,
        "API key": api_key,
        "API key secret": tokens.parse(api_key).secret,
        "access token": access["Authorization"].split()[1],
        "invitation token": invitation_token,
        "SECRET_KEY": app.config["SECRET_KEY"],
    }
    leaked = [name for name, secret in secrets.items() if secret in text]
    assert leaked == [], f"secrets in the logs: {leaked}"

    lines = [json.loads(line) for line in text.splitlines()]
    requests = [r for r in lines if r["logger"] == "tenantdesk.request"]
    routes = {r["route"] for r in requests}
    assert "/invitations/<token>" in routes and "/o/<slug>/api-keys" in routes
    mine = [r for r in requests if r["route"] == "/o/<slug>/api-keys" and r["method"] == "POST"]
    assert mine[0]["status"] == 201 and mine[0]["duration_ms"] >= 0
    assert mine[0]["user_id"] == str(owner.id) and mine[0]["org_id"] == str(org.id)
    assert re.fullmatch(r"[0-9a-f]{32}", mine[0]["request_id"])
    by_key = [r for r in requests if r["route"] == "/api/v1/org"]
    assert by_key[0]["org_id"] == str(org.id) and "credential_id" in by_key[0]
    # Python logging is configured at start-up: the mail lines are there, without the link.
    assert any(r["logger"] == "dashboard.mail" and "logs.newcomer@example.com" in r["message"]
               for r in lines)


def test_text_lines_by_default_json_lines_when_asked(app, capsys):
    try:
        logs.configure({"LOG_FORMAT": "json"})
        logging.getLogger("tenantdesk.test").warning("hello %s", "json")
        logs.configure({"LOG_FORMAT": "text"})
        logging.getLogger("tenantdesk.test").warning("hello %s", "text")
    finally:
        logs.configure(app.config)
    first, second = capsys.readouterr().err.strip().splitlines()[-2:]
    assert json.loads(first)["message"] == "hello json"
    assert json.loads(first)["level"] == "WARNING"
    assert second.endswith("WARNING tenantdesk.test [-] hello text")


def test_request_ids_are_fresh_unless_a_trusted_proxy_sets_them(database_urls, tmp_path, client):
    answered = client.get("/healthz", headers={"X-Request-ID": "from-the-client"})
    assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["X-Request-ID"])
    trusting = make_app(database_urls, tmp_path, TRUST_REQUEST_ID=True)
    try:
        proxied = trusting.test_client()
        kept = proxied.get("/healthz", headers={"X-Request-ID": "lb-1234.abc"})
        mangled = proxied.get("/healthz", headers={"X-Request-ID": "no spaces\tor tabs"})
    finally:
        trusting.extensions["tenantdesk.db"].dispose()
    assert kept.headers["X-Request-ID"] == "lb-1234.abc"
    assert re.fullmatch(r"[0-9a-f]{32}", mangled.headers["X-Request-ID"])


@pytest.mark.parametrize(("hops", "second_status"), [(1, 401), (0, 429)])
def test_trusted_proxy_hops_decide_whose_address_is_rate_limited(database_urls, tmp_path,
                                                                  hops, second_status):
    """Behind one trusted proxy two clients are two addresses; trusting none, the proxy's
    header is ignored and both share the proxy's address (and its limit)."""
    app = make_app(database_urls, tmp_path, TRUSTED_PROXY_HOPS=hops, LOGIN_RATE_LIMIT="1/minute",
                   RATELIMIT_KEY_PREFIX=f"proxy-test-{hops}-{tmp_path.name}")
    user = factories.UserFactory()
    try:
        statuses = []
        for address in ("198.51.100.7", "198.51.100.8"):
            client = app.test_client()
            page = client.get("/login")
            statuses.append(client.post("/login", headers={"X-Forwarded-For": address}, data={
                "csrf_token": csrf_from(page.get_data(as_text=True)), "email": user.email,
                "password": "wrong"}).status_code)
    finally:
        app.extensions["tenantdesk.db"].dispose()
    assert statuses == [401, second_status]
