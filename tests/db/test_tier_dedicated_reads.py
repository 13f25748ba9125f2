"""A dedicated org's cell reads as one self-committing statement on its own database
(``cell_reads.read_cells`` / ``dedicated.read``, issue 20): the same rows, the same gate, the
org's statement timeout, and the transaction path kept where the one statement would be wrong
(PgBouncer, a transaction already open there)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import exc, text

from dashboard import cell_reads, db, tenancy
from dashboard.db import recording_statements
from dashboard.tiers import routing
from tests import factories
from tests import tiers as t
from tests.helpers import login

COUNT = text("SELECT count(*) AS n, coalesce(sum(total), 0) AS total FROM usage_daily")


def dedicated_org(days: int = 5, **roles):
    org, people = factories.org_with_members(**(roles or {"owner": "owner", "bob": "member"}))
    for n in range(days):
        factories.usage_daily(org, "api_calls", dt.date.today() - dt.timedelta(days=n), 10 + n)
    return org, people


@pytest.fixture
def moved(database_urls):
    placed = []

    def move(org):
        t.move(database_urls, org, "dedicated")
        placed.append(org)
        return org

    yield move
    for org in placed:
        t.move(database_urls, org, "shared")


def dedicated_engine(runtime_sessions):
    engines = runtime_sessions.kw["info"][tenancy.ENGINES_KEY]
    (engine,) = engines.open_engines()
    return engine


def context(user, org):
    return tenancy.TenantContext(user_id=user.id, org_id=org.id)


def test_a_read_is_one_statement_there_with_the_orgs_rows_and_no_transaction_left_open(
    database_urls, runtime_sessions, moved
):
    org, people = dedicated_org()
    moved(org)
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as session:
        cell_reads.read_cells(session, COUNT, {})  # the engine is made on first use
    engine = dedicated_engine(runtime_sessions)
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as session:
        with recording_statements(engine) as there:
            rows = cell_reads.read_cells(session, COUNT, {})
        assert rows == [(5, 60)]
        assert len(there) == 1 and "set_config('app.tier_ticket'" in there[0]
        assert not cell_reads._dedicated_open(session)
        assert engine.pool.checkedout() == 0  # the connection went back at once
        # No row is an empty list, not a row of NULLs.
        nothing = text("SELECT day FROM usage_daily WHERE false")
        assert cell_reads.read_cells(session, nothing, {}) == []


def test_another_tenant_cannot_read_the_orgs_cells_through_it(
    database_urls, runtime_sessions, moved
):
    org, people = dedicated_org()
    other, other_people = dedicated_org(days=2, owner="owner")
    moved(org)
    moved(other)  # the same dedicated database holds both orgs' cells
    with tenancy.scoped_session(runtime_sessions, context(other_people["owner"], other)) as s:
        assert cell_reads.read_cells(s, COUNT, {}) == [(2, 21)]  # its own rows only
        by_id = text("SELECT count(*) FROM usage_daily WHERE org_id = :org_id")
        assert cell_reads.read_cells(s, by_id, {"org_id": org.id}) == [(0,)]
    # Naming the org it is not a member of: the shared gate says no, no ticket, no rows.
    with tenancy.scoped_session(runtime_sessions, context(other_people["owner"], org)) as s:
        assert cell_reads.read_cells(s, COUNT, {}) == [(0, 0)]
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as s:
        assert cell_reads.read_cells(s, COUNT, {}) == [(0, 0)]


def test_a_removed_member_or_a_suspended_org_reads_nothing_on_the_next_transaction(
    database_urls, runtime_sessions, moved
):
    org, people = dedicated_org(owner="owner", bob="member", carol="member")
    moved(org)
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as s:
        assert cell_reads.read_cells(s, COUNT, {}) == [(5, 60)]
    factories.execute(
        "DELETE FROM memberships WHERE org_id = :o AND user_id = :u", o=org.id, u=people["bob"].id
    )
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as s:
        assert cell_reads.read_cells(s, COUNT, {}) == [(0, 0)]
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=org.id)
    try:
        with tenancy.scoped_session(runtime_sessions, context(people["carol"], org)) as s:
            assert cell_reads.read_cells(s, COUNT, {}) == [(0, 0)]
    finally:
        factories.execute("UPDATE organizations SET status = 'active' WHERE id = :o", o=org.id)


def test_the_orgs_statement_timeout_applies_to_the_read(
    admin_engine, database_urls, runtime_sessions, moved
):
    org, people = dedicated_org()
    moved(org)
    with admin_engine.begin() as conn:
        conn.execute(
            text("UPDATE tenant_routes SET statement_timeout_ms = 200 WHERE org_id = :o"),
            {"o": org.id},
        )
    slow = text("SELECT count(*) FROM usage_daily, pg_sleep(3)")
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as s:
        started = time.monotonic()
        with pytest.raises(exc.OperationalError, match="statement timeout"):
            cell_reads.read_cells(s, slow, {})
        assert time.monotonic() - started < 2
    # The connection stays usable and keeps the org's budget; another budget is applied.
    setting = text("SELECT current_setting('statement_timeout') FROM usage_daily LIMIT 1")
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as s:
        assert cell_reads.read_cells(s, setting, {}) == [("200ms",)]
    with admin_engine.begin() as conn:
        conn.execute(
            text("UPDATE tenant_routes SET statement_timeout_ms = 4000 WHERE org_id = :o"),
            {"o": org.id},
        )
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as s:
        assert cell_reads.read_cells(s, setting, {}) == [("4s",)]


def test_a_transaction_open_there_keeps_the_read_inside_it(database_urls, runtime_sessions, moved):
    org, people = dedicated_org()
    moved(org)
    with tenancy.scoped_session(runtime_sessions, context(people["owner"], org)) as s:
        s.execute(
            text(
                "INSERT INTO usage_daily (org_id, metric, day, total)"
                " VALUES (:o, 'seats', current_date, 1000)"
            ),
            {"o": org.id},
        )
        assert cell_reads._dedicated_open(s)
        with recording_statements(dedicated_engine(runtime_sessions)) as there:
            # Its own uncommitted write is seen: the read ran in the same transaction.
            assert cell_reads.read_cells(s, COUNT, {}) == [(6, 1060)]
        assert len(there) == 1 and "set_config" not in there[0]
        s.rollback()
        assert not cell_reads._dedicated_open(s)
        assert cell_reads.read_cells(s, COUNT, {}) == [(5, 60)]


def test_behind_pgbouncer_the_read_runs_in_a_transaction_there(database_urls, moved):
    org, people = dedicated_org()
    moved(org)
    # Settings made on a connection do not stay with it behind PgBouncer: the statement
    # timeout could not be the connection's; the transaction's context sets it instead.
    database = db.connect(database_urls, pool_size=2, pooler="pgbouncer")
    try:
        with tenancy.scoped_session(database.sessionmaker, context(people["bob"], org)) as s:
            assert cell_reads.read_cells(s, COUNT, {}) == [(5, 60)]
            assert cell_reads._dedicated_open(s)
            (engine,) = database.dedicated.open_engines()
            assert not database.dedicated.keeps_session_settings(engine)
    finally:
        database.dispose()


def test_the_ticket_is_minted_only_for_transactions_that_can_reach_the_dedicated_database(
    database_urls, runtime_sessions, moved
):
    org, people = dedicated_org()
    moved(org)
    with tenancy.scoped_session(runtime_sessions, context(people["bob"], org)) as s:
        # One statement alone on the shared database (the session check of a minimal page).
        row = tenancy.begin_with(s, "SELECT 1 AS one", {}, alone=True)
        assert row.one == 1
        route = routing.route_of(s.info)
        assert route.tier == "dedicated" and route.ticket is None
        # A transaction: it may read the cells, so it carries the shared gate's verdict.
        s.connection()
        assert routing.route_of(s.info).ticket
        assert cell_reads.read_cells(s, COUNT, {}) == [(5, 60)]


def test_dedicated_pages_run_one_statement_there(app, client, database_urls, moved):
    org, people = dedicated_org()
    factories.put_on_plan(org, "growth")  # 365 days of usage
    moved(org)
    login(client, people["owner"])
    engines = app.extensions["tenantdesk.db"]
    for url in (
        f"/o/{org.slug}/",
        f"/o/{org.slug}/usage?range=365",
        f"/o/{org.slug}/usage/data.json?range=365",
    ):
        assert client.get(url).status_code == 200  # warm-up: engines, caches
        (engine,) = engines.dedicated.open_engines()
        with recording_statements(engines.engine) as shared, recording_statements(engine) as there:
            assert client.get(url).status_code == 200
        assert (len(shared), len(there)) == (2, 1), (url, shared, there)
