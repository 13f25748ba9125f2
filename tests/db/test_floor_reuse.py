"""Issue 20, session 11 (the floor): what every request now reuses instead of making anew,
and that reusing it changes no answer.

- the first statement's cursor, one per pooled connection (psycopg keeps its adapters);
- the parsed ``Cookie`` header, one per distinct header (an immutable mapping).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, exc
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from dashboard import first_statement
from dashboard.flask_app import CookieRequest
from tests import factories
from tests.helpers import login


def _kept(connection, sql: str):
    """The cursor the connection keeps for ``sql`` (None: none), checked to be its own."""
    raw, cursors = connection.connection.info[first_statement._CURSOR_KEY]
    assert raw is connection.connection.dbapi_connection
    named, _, numbered, _ = first_statement._COMPILED[sql]
    found = [cursor for (text, _), cursor in cursors.items() if text in (named, numbered)]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_statement_without_parameters_runs_with_and_without_cursor_listeners(
        app, monkeypatch):
    """Its named and numbered texts are the same: each way keeps a cursor of its own kind (a
    RawCursor kept for it once refused the named parameters of the listeners' way)."""
    engine = app.extensions["tenantdesk.db"].engine
    sql = "SELECT 7 AS seven"
    with engine.connect() as connection:
        for listening in (False, True, False):
            monkeypatch.setattr(connection, "_has_events", listening)
            monkeypatch.setattr(engine, "_has_events", listening)
            assert first_statement.first_row(connection, sql, {}, alone=True).seven == 7


def test_each_pooled_connection_keeps_one_cursor_for_the_first_statement(app, client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    url = f"/o/{org.slug}/whoami.json"
    cursors: dict[int, set[int]] = {}

    def after(conn, cursor, statement, parameters, context, executemany):
        if "set_config('app.user_id'" in statement:
            raw = conn.connection.dbapi_connection
            cursors.setdefault(id(raw), set()).add(id(cursor))

    engine = app.extensions["tenantdesk.db"].engine
    event.listen(engine, "after_cursor_execute", after)
    try:
        for _ in range(6):
            answer = client.get(url)
            assert answer.status_code == 200
            assert answer.get_json()["user"]["email"] == people["owner"].email
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert cursors and all(len(kept) == 1 for kept in cursors.values())


def test_a_failed_first_statement_leaves_no_cursor_behind(app):
    engine = app.extensions["tenantdesk.db"].engine
    one, two, fails = "SELECT 1 AS one", "SELECT 2 AS two", "SELECT 1 / :zero AS x"
    with engine.connect() as connection:
        assert first_statement.first_row(connection, fails, {"zero": 1}, alone=True).x == 1
        failing = _kept(connection, fails)
        assert first_statement.first_row(connection, one, {}, alone=True).one == 1
        kept = _kept(connection, one)
        assert first_statement.first_row(connection, one, {}, alone=True).one == 1
        assert _kept(connection, one) is kept  # the same statement again: the same cursor
        with pytest.raises(exc.DataError):
            first_statement.first_row(connection, fails, {"zero": 0}, alone=True)
        assert failing.closed and _kept(connection, fails) is None
        # The others keep theirs; each statement has its own, and answers its own row.
        assert first_statement.first_row(connection, two, {}, alone=True).two == 2
        assert first_statement.first_row(connection, one, {}, alone=True).one == 1
        assert _kept(connection, one) is kept and _kept(connection, two) is not kept
        assert first_statement.first_row(connection, fails, {"zero": 1}, alone=True).x == 1
        assert _kept(connection, fails) is not failing


def test_a_replaced_connection_never_gets_the_old_ones_cursor(app):
    engine = app.extensions["tenantdesk.db"].engine
    with engine.connect() as connection:
        first_statement.first_row(connection, "SELECT 1 AS one", {}, alone=True)
        old = _kept(connection, "SELECT 1 AS one")
        connection.invalidate()  # what SQLAlchemy does to a connection that broke
    with engine.connect() as connection:
        assert first_statement.first_row(connection, "SELECT 1 AS one", {}, alone=True).one == 1
        kept = _kept(connection, "SELECT 1 AS one")
        assert kept is not old
        assert kept.connection is connection.connection.dbapi_connection


@pytest.mark.parametrize(
    "header",
    [
        "",
        "session=abc.def",
        'a=1; b="two words"; a=3',
        'weird; =x; y=; z="\\101"',
        "café=crème",
    ],
)
def test_cookies_are_parsed_as_werkzeug_parses_them(header):
    environ = EnvironBuilder(headers={"Cookie": header} if header else {}).get_environ()
    stock = WerkzeugRequest(environ).cookies
    for _ in range(2):  # the second answer comes from what the first remembered
        ours = CookieRequest(dict(environ)).cookies
        assert list(ours.items(multi=True)) == list(stock.items(multi=True))
        assert type(ours) is type(stock)


def test_remembered_cookies_cannot_be_changed_by_a_request():
    environ = EnvironBuilder(headers={"Cookie": "one=1"}).get_environ()
    first = CookieRequest(dict(environ)).cookies
    with pytest.raises(TypeError):
        first["one"] = "2"
    assert CookieRequest(dict(environ)).cookies["one"] == "1"
    other = EnvironBuilder(headers={"Cookie": "one=9"}).get_environ()
    assert CookieRequest(other).cookies["one"] == "9"
