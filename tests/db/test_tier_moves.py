"""Isolation tiers in the database: cell tables, moves (verified, resumable, abortable), the
schema tier under the same RLS gate, and tiers behind the code's revision."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from dashboard.tiers import catalogue
from dashboard.tiers.moves import MoveError, Mover
from tests import factories
from tests import tiers as t


def seeded_org(days: int = 20):
    org, people = factories.org_with_members(owner="owner", bob="member")
    today = dt.date.today()
    for n in range(days):
        factories.usage_daily(org, "api_calls", today - dt.timedelta(days=n), 10 + n)
        factories.usage_event(
            org, "api_calls", 1 + n, dt.datetime.now(dt.UTC) - dt.timedelta(days=n)
        )
    return org, people


def usage_seen(runtime_sessions, user, org):
    context = tenancy.TenantContext(user_id=user.id, org_id=org.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        return session.execute(
            text("SELECT metric, day, total FROM usage_daily ORDER BY day")
        ).all()


def test_cell_tables_come_from_the_catalogue(admin_engine):
    cell = t.cell_tables(admin_engine)
    assert {"usage_daily", "usage_events"} <= set(cell)
    # Read by SECURITY DEFINER functions (the gate, look-ups, audited staff writes): shared.
    assert not {"organizations", "memberships", "org_credentials", "audit_events"} & set(cell)


def test_schema_round_trip_is_verified_and_leaves_other_orgs_untouched(
    admin_engine, database_urls, runtime_sessions
):
    org, people = seeded_org()
    bystander, _ = seeded_org(days=3)
    before_seen = usage_seen(runtime_sessions, people["bob"], org)
    before = t.counts(admin_engine, org)
    everyone = t.all_counts(admin_engine)

    move = t.move(database_urls, org, "schema")
    assert move["state"] == "done"
    schema = catalogue.schema_name(org.id)
    assert t.route(admin_engine, org)["tier"] == "schema"
    assert t.counts(admin_engine, org, schema) == before
    assert set(t.counts(admin_engine, org).values()) == {0}  # purged from shared
    for table, sides in move["tables"].items():
        assert sides["source"] == sides["target"], table
        assert sides["source_rows_after_purge"] == 0
    assert usage_seen(runtime_sessions, people["bob"], org) == before_seen
    assert t.all_counts(admin_engine) == everyone  # same rows per org, whatever the tier

    back = t.move(database_urls, org, "shared")
    assert back["state"] == "done"
    assert t.route(admin_engine, org)["tier"] == "shared"
    assert t.counts(admin_engine, org) == before
    with admin_engine.connect() as conn:
        assert conn.execute(text("SELECT to_regnamespace(:s)"), {"s": schema}).scalar() is None
    assert usage_seen(runtime_sessions, people["bob"], org) == before_seen
    assert t.all_counts(admin_engine) == everyone
    assert bystander  # its rows are in everyone's counts, compared above


def test_rls_gate_applies_inside_a_tenant_schema(admin_engine, database_urls, runtime_sessions):
    org, people = seeded_org(days=2)
    other, other_people = seeded_org(days=2)
    t.move(database_urls, org, "schema")
    schema = catalogue.schema_name(org.id)
    # Another org's member names the schema outright: the same gate returns nothing.
    context = tenancy.TenantContext(user_id=other_people["owner"].id, org_id=other.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        assert session.scalar(text(f"SELECT count(*) FROM {schema}.usage_daily")) == 0
        assert session.scalar(text("SELECT count(*) FROM usage_daily")) == 2
        with pytest.raises(DBAPIError), session.begin_nested():
            session.execute(text(
                f"INSERT INTO {schema}.usage_daily (org_id, metric, day, total)"
                " VALUES (:o, 'api_calls', '2020-01-01', 1)"), {"o": org.id})
    # Nobody: nothing.
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        assert session.scalar(text(f"SELECT count(*) FROM {schema}.usage_daily")) == 0
    # A member removed from the org loses the tier too, on the next query.
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    assert usage_seen(runtime_sessions, people["bob"], org) == []
    assert len(usage_seen(runtime_sessions, people["owner"], org)) == 2
    t.move(database_urls, org, "shared")


@pytest.mark.parametrize("kill_at", ["copy:1", "switch:1"])
def test_a_move_killed_half_way_resumes_and_ends_verified(admin_engine, database_urls,
                                                         runtime_sessions, kill_at):
    org, people = seeded_org()
    before = t.counts(admin_engine, org)
    script = (
        "import sys; from dashboard.tiers.moves import Mover;"
        "m = Mover(sys.argv[1]); m.run(m.start(sys.argv[2], 'schema', requested_by='test'))"
    )
    env = dict(os.environ, TENANTDESK_MOVE_KILL_AT=kill_at)
    done = subprocess.run([sys.executable, "-c", script, database_urls.owner, org.slug],
                          env=env, timeout=120)
    assert done.returncode == -9
    if kill_at.startswith("copy"):  # killed before the switch: still where it was, frozen
        assert t.route(admin_engine, org)["state"] == "moving"
        assert len(usage_seen(runtime_sessions, people["owner"], org)) == 20
        context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
        with (pytest.raises(DBAPIError, match="read-only"),
              tenancy.scoped_session(runtime_sessions, context) as session):
            session.execute(text("INSERT INTO usage_daily (org_id, metric, day, total)"
                                 " VALUES (:o, 'api_calls', '2001-01-01', 1)"), {"o": org.id})
    else:  # killed after the switch: served from the target already, the source not purged
        assert t.route(admin_engine, org) | {"state": "active", "tier": "schema"} == t.route(
            admin_engine, org)
        assert t.counts(admin_engine, org) == before
        assert len(usage_seen(runtime_sessions, people["owner"], org)) == 20

    move = t.resume(database_urls, org)
    assert move["state"] == "done"
    assert t.route(admin_engine, org)["state"] == "active"
    assert t.counts(admin_engine, org, catalogue.schema_name(org.id)) == before
    assert len(usage_seen(runtime_sessions, people["owner"], org)) == 20
    t.move(database_urls, org, "shared")


def test_an_aborted_move_leaves_the_tenant_untouched_and_nothing_in_the_target(
    admin_engine, database_urls, runtime_sessions
):
    org, people = seeded_org()
    before = t.counts(admin_engine, org)
    everyone = t.all_counts(admin_engine)
    script = (
        "import sys; from dashboard.tiers.moves import Mover;"
        "m = Mover(sys.argv[1]); m.run(m.start(sys.argv[2], 'schema', requested_by='test'))"
    )
    env = dict(os.environ, TENANTDESK_MOVE_KILL_AT="copy:2")
    subprocess.run([sys.executable, "-c", script, database_urls.owner, org.slug],
                   env=env, timeout=120)
    mover = Mover(database_urls.owner)
    try:
        move = mover.abort(mover.open_move(org.id)["id"])
        assert move["state"] == "aborted"
        with pytest.raises(MoveError):
            mover.abort(move["id"])
    finally:
        mover.close()
    assert t.route(admin_engine, org)["tier"] == "shared"
    assert t.route(admin_engine, org)["state"] == "active"
    assert t.counts(admin_engine, org) == before
    assert t.all_counts(admin_engine) == everyone
    with admin_engine.connect() as conn:
        schema = catalogue.schema_name(org.id)
        assert conn.execute(text("SELECT to_regnamespace(:s)"), {"s": schema}).scalar() is None
    # Writable again.
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        session.execute(text("INSERT INTO usage_daily (org_id, metric, day, total)"
                             " VALUES (:o, 'api_calls', '2001-01-01', 1)"), {"o": org.id})


def test_a_second_move_waits_for_the_open_one(database_urls):
    org, _ = seeded_org(days=1)
    mover = Mover(database_urls.owner)
    try:
        first = mover.start(org.slug, "schema", requested_by="test")
        mover._freeze(mover.load(first))  # frozen, copying not begun
        with pytest.raises(MoveError, match="open move"):
            mover.start(org.slug, "schema", requested_by="test")
        with pytest.raises(MoveError):
            mover.start("no-such-org-slug", "schema", requested_by="test")
        mover.run(first)
        with pytest.raises(MoveError, match="already"):
            mover.start(org.slug, "schema", requested_by="test")
        mover.run(mover.start(org.slug, "shared", requested_by="test"))
    finally:
        mover.close()


def test_a_move_gives_way_to_a_request_holding_a_lock_it_needs(admin_engine, database_urls):
    """A request's write lock on ``users`` blocks the foreign key the schema copy adds: the
    move's step times out (LOCK_TIMEOUT_MS), rolls back and retries until the lock is gone,
    and the first error reaches the retry (a statement after it would hide it)."""
    org, _ = seeded_org(days=2)
    holder = admin_engine.connect()
    holding = holder.begin()
    holder.execute(text("LOCK TABLE users IN ROW EXCLUSIVE MODE"))  # what an UPDATE takes
    released = threading.Event()

    def release() -> None:
        holding.rollback()
        released.set()

    timer = threading.Timer(1.0, release)
    timer.start()
    try:
        move = t.move(database_urls, org, "schema")
    finally:
        timer.join()
        holder.close()
    assert released.is_set()
    assert move["state"] == "done"
    assert t.route(admin_engine, org)["tier"] == "schema"
    assert t.move(database_urls, org, "shared")["state"] == "done"
