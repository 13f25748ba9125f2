"""What issue 20 (pages at the cost floor) changed, and what it must not weaken.

- ``/o/<slug>/whoami.json``, the smallest signed-in page, still checks the session row, the
  membership and the org on every request;
- charts and data tables are memoised on their content, so a new rollup shows at once;
- the gate ``app_current_org()`` is PARALLEL SAFE (and still the gate).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests import factories
from tests.helpers import login

TODAY = datetime.now(UTC).date()


def test_whoami_answers_who_you_are_and_rechecks_the_session_every_time(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    url = f"/o/{org.slug}/whoami.json"
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.get_json() == {
        "user": {"id": str(people["bob"].id), "email": people["bob"].email},
        "org": {"id": str(org.id), "slug": org.slug},
        "role": "member",
    }
    assert "Set-Cookie" not in answer.headers  # nothing changed: the cookie is not re-sent

    factories.execute("UPDATE memberships SET role = 'admin' WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    assert client.get(url).get_json()["role"] == "admin"  # the next request sees the role

    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    assert client.get(url).status_code == 404  # removed: the very next request

    login(client, people["owner"])
    assert client.get(url).status_code == 200
    factories.execute("UPDATE user_sessions SET revoked_at = now() WHERE user_id = :u",
                      u=people["owner"].id)
    assert client.get(url).status_code in (302, 401)  # revoked session: signed out


def _transaction_status_after_each_statement(app):
    """Record, after each statement the app sends, whether its connection is left inside a
    transaction (psycopg's view: INTRANS) or not (IDLE: the statement was its own)."""
    from psycopg.pq import TransactionStatus
    from sqlalchemy import event

    seen: list[str] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        status = conn.connection.dbapi_connection.info.transaction_status
        seen.append(TransactionStatus(status).name)

    engine = app.extensions["tenantdesk.db"].engine
    event.listen(engine, "after_cursor_execute", after)
    return seen, lambda: event.remove(engine, "after_cursor_execute", after)


def test_whoami_statement_is_its_own_transaction_and_leaves_none_behind(app, client):
    """Issue 20: whoami's one statement (the context and the session check) runs without
    BEGIN and COMMIT, as PostgreSQL's implicit transaction; the pooled connection goes back to
    transactions, so a page of several statements still runs them in one (one context)."""
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    client.get(f"/o/{org.slug}/")  # warm-up
    seen, stop = _transaction_status_after_each_statement(app)
    try:
        assert client.get(f"/o/{org.slug}/whoami.json").status_code == 200
        assert seen == ["IDLE"]
        seen.clear()
        # A member's page: the principal's check and the page's reads (the member, their
        # metadata) in one transaction. (The members list runs alone too since session 10:
        # tests/db/test_members_alone.py.)
        detail = client.get(f"/o/{org.slug}/members/{people['owner'].id}")
        assert detail.status_code == 200 and people["owner"].email in detail.get_data(
            as_text=True)
        assert len(seen) > 1 and set(seen) == {"INTRANS"}
    finally:
        stop()


def test_whoami_still_touches_a_stale_session_in_a_transaction_of_its_own(app, client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    factories.execute("UPDATE user_sessions SET last_seen_at = now() - interval '5 minutes'"
                      " WHERE user_id = :u AND revoked_at IS NULL", u=people["bob"].id)
    factories.execute("UPDATE memberships SET last_active_at = NULL"
                      " WHERE org_id = :o AND user_id = :u", o=org.id, u=people["bob"].id)
    answer = client.get(f"/o/{org.slug}/whoami.json")
    assert answer.status_code == 200 and "Set-Cookie" in answer.headers  # expiry follows
    seen_at, active_at = factories.execute(
        "SELECT s.last_seen_at > now() - interval '1 minute', m.last_active_at IS NOT NULL"
        " FROM user_sessions s JOIN memberships m ON m.user_id = s.user_id AND m.org_id = :o"
        " WHERE s.user_id = :u AND s.revoked_at IS NULL", o=org.id, u=people["bob"].id).one()
    assert seen_at and active_at
    assert client.get(f"/o/{org.slug}/whoami.json").status_code == 200


def test_a_new_rollup_shows_at_once_despite_the_chart_memo(client):
    org, people = factories.org_with_members(owner="owner")
    factories.execute("INSERT INTO usage_daily (org_id, metric, day, total)"
                      " VALUES (:o, 'api_calls', :d, 41)", o=org.id, d=TODAY)
    login(client, people["owner"])
    url = f"/o/{org.slug}/usage?range=30"

    def today_cell(html: str) -> str:
        return re.search(rf'<time datetime="{TODAY}">.*?data-value="([0-9]*)"',
                         html.split('data-testid="table-api_calls"', 1)[1], re.S).group(1)

    def chart(html: str) -> str:
        return re.search(r'<svg[^>]*id="usage-chart-api_calls".*?</svg>', html, re.S).group(0)

    first = client.get(url).get_data(as_text=True)
    assert today_cell(first) == "41"
    again = client.get(url).get_data(as_text=True)  # memoised: the same chart and table
    assert chart(again) == chart(first) and today_cell(again) == "41"
    factories.execute("UPDATE usage_daily SET total = 4100 WHERE org_id = :o", o=org.id)
    second = client.get(url).get_data(as_text=True)
    assert today_cell(second) == "4100" and chart(second) != chart(first)
    home = client.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert 'id="usage-spark-api_calls"' in home and "4,100" in home


def test_the_gate_is_parallel_safe_and_still_the_gate(admin_engine):
    from sqlalchemy import text

    with admin_engine.connect() as conn:
        parallel, volatility, definer = conn.execute(text(
            "SELECT proparallel, provolatile, prosecdef FROM pg_proc"
            " WHERE proname = 'app_current_org'")).one()
        assert (parallel, volatility, definer) == ("s", "s", True)
        policies = conn.execute(text(
            "SELECT count(*) FROM pg_policies WHERE tablename IN ('member_counts')"
            " AND qual LIKE '%app_current_org()%'")).scalar()
        assert policies >= 1


def test_a_connection_that_died_while_idle_is_replaced_before_use(database_urls, admin_engine):
    """No ping on every checkout any more: one after an idle spell catches a connection the
    server dropped meanwhile (restart, idle timeout), and the pool opens a fresh one."""
    from sqlalchemy import text

    from dashboard import db

    database = db.connect(database_urls, pool_size=1)
    try:
        db.ping_after_idle(database.engine, idle_seconds=0)  # every checkout counts as idle
        with database.engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin_engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
        with database.engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        database.dispose()


def test_app_uuid_accepts_exactly_the_canonical_form_and_is_inlined(admin_engine, app):
    """``app_uuid`` (migration 0026) parses the context's ids without a regular expression:
    the canonical 8-4-4-4-12 hex form of either case is a uuid, anything else is NULL (so the
    gate reads it as "no context", never an error); it and ``app_current_user()`` carry no
    ``SET`` clause, so the planner inlines them instead of calling them per use."""
    from sqlalchemy import text

    good = "7b89296c-6dcb-4c50-8857-7eb1924770d3"
    cases = {
        good: good,
        good.upper(): good,
        "": None,
        None: None,
        good[:-1]: None,  # 35 characters
        good + "0": None,  # 37
        good.replace("-", ""): None,  # no dashes (uuid_in would take it; the gate does not)
        "{" + good + "}": None,
        "7b89296-c6dcb-4c50-8857-7eb1924770d3": None,  # a dash moved
        "7b89296c-6dcb-4c50-8857-7eb1924770dg": None,  # not hex
        "7b89296c 6dcb-4c50-8857-7eb1924770d3": None,
        "7b89296c-6dcb-4c50-8857-7eb1924770d3' OR 't": None,
        "ｆ" + good[1:]: None,  # a full-width letter
    }
    with admin_engine.connect() as conn:
        for value, expected in cases.items():
            got = conn.execute(text("SELECT app_uuid(:v)::text"), {"v": value}).scalar()
            assert got == expected, value
        config = dict(conn.execute(text(
            "SELECT proname, proconfig FROM pg_proc"
            " WHERE proname IN ('app_uuid', 'app_current_user')")).all())
        assert config == {"app_uuid": None, "app_current_user": None}
        plan = conn.execute(text(
            "EXPLAIN (VERBOSE, FORMAT JSON) SELECT app_uuid(:v), app_current_user()"),
            {"v": good}).scalar()
        assert "app_uuid" not in str(plan) and "app_current_user" not in str(plan), plan


def test_chart_data_memo_follows_rollups_plan_and_access(client):
    """The chart data JSON is memoised on the report's inputs: the same rollups give the
    same body, a changed rollup or a new plan (other quotas) a new one at once, and a
    member removed meanwhile gets no body at all (the memo is consulted only after the
    request's own RLS-scoped read)."""
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.usage_daily(org, "api_calls", TODAY, 41)
    login(client, people["bob"])
    url = f"/o/{org.slug}/usage/data.json?range=30&metric=api_calls"

    def today_value(answer) -> int:
        assert answer.status_code == 200 and answer.mimetype == "application/json"
        return dict(answer.get_json()["metrics"][0]["days"])[TODAY.isoformat()]

    first = client.get(url)
    assert today_value(first) == 41
    assert client.get(url).get_data() == first.get_data()
    factories.usage_daily(org, "api_calls", TODAY, 4100)
    assert today_value(client.get(url)) == 4100
    limit = client.get(url).get_json()["metrics"][0]["quota"]["limit"]
    factories.put_on_plan(org, "growth")
    assert client.get(url).get_json()["metrics"][0]["quota"]["limit"] != limit
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    assert client.get(url).status_code == 404


def test_people_are_checked_one_membership_probe_each(admin_engine):
    """Migration 0027: the users read policy's membership check is a correlated probe
    (``OFFSET 0``), never a hash of the org's every membership: with the benchmark's
    100,000-member org the planner chose the hash and read 100,000 rows for 50 people."""
    from sqlalchemy import text

    with admin_engine.connect() as conn:
        qual = conn.execute(text(
            "SELECT qual FROM pg_policies WHERE tablename = 'users' AND policyname ="
            " 'users_select'")).scalar()
    assert "app_current_user()" in qual and "app_current_org()" in qual
    assert "OFFSET 0" in qual, qual


def test_a_session_idle_past_the_installation_limit_is_refused(app, client):
    """The session check's idle test (``last_seen_at > now() - idle``, written ``IS TRUE`` so
    the planner keeps it out of the index look-up): one just inside the limit is served,
    one just past it is signed out."""
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    url = f"/o/{org.slug}/whoami.json"
    days = app.config["SESSION_IDLE_DAYS"]
    factories.execute(
        "UPDATE user_sessions SET last_seen_at = now() - make_interval(days => :d)"
        " + interval '1 minute' WHERE user_id = :u AND revoked_at IS NULL",
        d=days, u=people["owner"].id)
    assert client.get(url).status_code == 200
    factories.execute(
        "UPDATE user_sessions SET last_seen_at = now() - make_interval(days => :d)"
        " - interval '1 minute' WHERE user_id = :u AND revoked_at IS NULL",
        d=days, u=people["owner"].id)
    assert client.get(url).status_code in (302, 401)



def _session_scan(admin_engine, query: str, session_id, user_id, org_id) -> dict:
    """The user_sessions node of the session check's generic plan (a prepared statement's, as
    psycopg runs it after five executions), executed for real."""
    import json
    import uuid

    from sqlalchemy import text

    for name, number in (("sid", 1), ("uid", 2), ("oid", 3), ("touch", 4), ("idle", 5)):
        query = query.replace(f":{name}", f"${number}")
    with admin_engine.connect() as conn:
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.exec_driver_sql(
            f"PREPARE session_check(text, text, text, interval, interval) AS {query}")
        ids = ", ".join(f"'{uuid.UUID(str(v))}'" for v in (session_id, user_id, org_id))
        plan = conn.exec_driver_sql(  # EXECUTE takes no bound parameters: canonical UUIDs
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE session_check({ids},"
            " interval '1 minute', interval '14 days')").scalar()
        conn.exec_driver_sql("DEALLOCATE session_check")
        conn.rollback()
    if isinstance(plan, str):
        plan = json.loads(plan)

    def nodes(node):
        yield node
        for child in node.get("Plans", ()):
            yield from nodes(child)

    return next(n for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "user_sessions")


def test_the_session_checks_idle_test_is_never_an_index_condition(admin_engine):
    """Issue 20: a user's live sessions (one per sign-in until revoked) must not make each
    request dearer. On the benchmark's database the generic plan took the (user_id,
    last_seen_at) index, the idle test its second index condition, and filtered every live
    session of the user for the id. Written ``IS TRUE`` the idle test is a filter only, and
    that index is gone (0050): the session is found by its id, one row read."""
    from dashboard.auth import principal

    org, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    # Other live sessions of the same user (other devices), and many ended ones.
    factories.execute("INSERT INTO user_sessions (user_id, org_id, revoked_at)"
                      " SELECT :u, :o, CASE WHEN n > 40 THEN now() END"
                      " FROM generate_series(1, 3000) AS n", u=user.id, o=org.id)
    mine = factories.execute("INSERT INTO user_sessions (user_id, org_id) VALUES (:u, :o)"
                             " RETURNING id", u=user.id, o=org.id).scalar()
    with admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE user_sessions")
    scan = _session_scan(admin_engine, principal._LOAD_QUERY_NO_GRANT, mine, user.id, org.id)
    assert scan["Actual Rows"] == 1  # the session, found
    assert "last_seen_at" not in scan.get("Index Cond", ""), scan
    assert "last_seen_at" in scan.get("Filter", ""), scan  # still checked, on the row
    assert scan.get("Rows Removed by Filter", 0) == 0, scan
    assert "id = " in scan.get("Index Cond", scan.get("Recheck Cond", "")), scan
