"""Issue 20, session 10 (the request floor): a statement that is its own transaction runs
without an ORM session (``tenancy.request_alone``), and an unchanged cookie session answers
``Vary: Cookie`` without Flask's header parsing. What each still refuses or keeps."""

from __future__ import annotations

import uuid

import pytest
from flask import g
from werkzeug.exceptions import NotFound

from dashboard import tenancy
from dashboard.db import recording_statements
from dashboard.tiers import routing
from tests import factories
from tests.helpers import login


@pytest.fixture
def sessions_made(app):
    """How many ORM sessions the app makes (its sessionmaker, counted)."""
    database = app.extensions["tenantdesk.db"]
    real = database.sessionmaker
    made: list[int] = []

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    database.sessionmaker = counting
    try:
        yield made
    finally:
        database.sessionmaker = real


def test_whoami_makes_no_orm_session_and_still_rechecks_everything(client, sessions_made):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    url = f"/o/{org.slug}/whoami.json"
    client.get(url)  # a first request may touch the session row
    sessions_made.clear()
    answer = client.get(url)
    assert answer.status_code == 200 and answer.get_json()["role"] == "member"
    assert sessions_made == []
    assert routing.CAP.in_flight(str(org.id)) == 0  # its slot was given back

    factories.execute("UPDATE user_sessions SET revoked_at = now() WHERE user_id = :u",
                      u=people["bob"].id)
    assert client.get(url).status_code in (302, 401)  # revoked: the very next request


def test_whoami_without_a_session_still_counts_against_the_orgs_cap(client, sessions_made):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    url = f"/o/{org.slug}/whoami.json"
    assert client.get(url).status_code == 200
    org_key = str(org.id)
    with routing.CAP._lock:
        routing.CAP._in_flight[org_key] = 10**9  # the org's cap is full
    try:
        refused = client.get(url)
        assert refused.status_code in (429, 503) and b"member" not in refused.get_data()
    finally:
        with routing.CAP._lock:
            routing.CAP._in_flight.pop(org_key, None)
    assert client.get(url).status_code == 200
    assert routing.CAP.in_flight(org_key) == 0


def test_a_stale_session_touch_takes_the_slot_over_and_gives_it_back_once(client,
                                                                            sessions_made):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    factories.execute("UPDATE user_sessions SET last_seen_at = now() - interval '5 minutes'"
                      " WHERE user_id = :u AND revoked_at IS NULL", u=people["bob"].id)
    sessions_made.clear()
    answer = client.get(f"/o/{org.slug}/whoami.json")
    assert answer.status_code == 200 and "Set-Cookie" in answer.headers
    assert sessions_made == [1]  # made for the touch, after the check ran alone
    assert routing.CAP.in_flight(str(org.id)) == 0
    fresh = factories.execute(
        "SELECT last_seen_at > now() - interval '1 minute' FROM user_sessions"
        " WHERE user_id = :u AND revoked_at IS NULL", u=people["bob"].id).scalar()
    assert fresh


def test_request_alone_refuses_another_org_on_an_org_host_before_any_statement(app):
    with app.test_request_context("/"):
        g.host_org_id = uuid.uuid4()
        other = tenancy.TenantContext(user_id=uuid.uuid4(), org_id=uuid.uuid4())
        engine = app.extensions["tenantdesk.db"].engine
        with recording_statements(engine) as ran, pytest.raises(NotFound):
            tenancy.request_alone(other, "SELECT 1 AS one", {})
        assert ran == []
        assert g.get("tenant_context") is None  # nothing acts for the other org


def test_request_alone_with_a_session_already_made_is_begin_with(app):
    with app.test_request_context("/"):
        session = tenancy.request_session()
        context = tenancy.TenantContext(user_id=uuid.uuid4(), org_id=uuid.uuid4())
        assert tenancy.request_alone(context, "SELECT 1 AS one", {}) is not None
        assert tenancy.context_of(session) == context
        assert g.get("db_info") is None


def test_the_unchanged_session_answers_vary_cookie_as_flask_does(app, client):
    from flask.sessions import SecureCookieSessionInterface

    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    url = f"/o/{org.slug}/whoami.json"
    ours = client.get(url)
    assert ours.headers.get_all("Vary") == ["Cookie"] and "Set-Cookie" not in ours.headers
    stock = SecureCookieSessionInterface()
    stock.digest_method = app.session_interface.digest_method
    app.session_interface, ours_interface = stock, app.session_interface
    try:
        theirs = client.get(url)
    finally:
        app.session_interface = ours_interface
    assert theirs.headers.get_all("Vary") == ours.headers.get_all("Vary")
    assert ("Set-Cookie" in theirs.headers) == ("Set-Cookie" in ours.headers)
