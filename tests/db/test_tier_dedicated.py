"""The dedicated-database tier: a second database on the test server holds the org's cell
tables under the same RLS policies; its gate admits only what the shared gate signed for this
transaction. Moves in and out are verified; migrations reach it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy import text

from dashboard import provisioning, tenancy
from dashboard.tiers import dedicated, rollout
from dashboard.tiers.moves import MoveError, Mover
from tests import factories
from tests import tiers as t

DAYS = 120
EVENTS = 5000


def sizeable_org(members: int = 200):
    """An org with members and a usage history: ``DAYS`` daily totals of two metrics and
    ``EVENTS`` raw events (the rows that move)."""
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.add_members(org, members)
    factories.execute(
        "INSERT INTO usage_daily (org_id, metric, day, total)"
        " SELECT :o, m, current_date - d, 10 + d FROM generate_series(0, :days - 1) d,"
        " unnest(ARRAY['api_calls', 'seats']) m",
        o=org.id, days=DAYS,
    )
    factories.execute(
        "INSERT INTO usage_events (org_id, metric, quantity, occurred_at, idempotency_key)"
        " SELECT :o, 'api_calls', 1 + n % 7, now() - make_interval(mins => n), 'k-' || n"
        " FROM generate_series(1, :n) n",
        o=org.id, n=EVENTS,
    )
    return org, people


def usage_seen(runtime_sessions, user, org):
    context = tenancy.TenantContext(user_id=user.id, org_id=org.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        return (
            session.execute(text("SELECT metric, day, total FROM usage_daily"
                                 " ORDER BY metric, day")).all(),
            session.scalar(text("SELECT count(*) FROM usage_events")),
        )


@pytest.fixture(scope="module")
def dedicated_admin(database_urls):
    engine = t.dedicated_admin_engine(database_urls)
    yield engine
    engine.dispose()


def test_shared_to_dedicated_and_back_is_verified_and_touches_no_other_org(
    admin_engine, dedicated_admin, database_urls, runtime_sessions
):
    org, people = sizeable_org()
    bystander, _ = sizeable_org(members=3)
    before_seen = usage_seen(runtime_sessions, people["bob"], org)
    assert len(before_seen[0]) == 2 * DAYS and before_seen[1] == EVENTS
    before = t.counts(admin_engine, org)
    everyone = t.all_counts(admin_engine)

    move = t.move(database_urls, org, "dedicated")
    assert move["state"] == "done"
    route = t.route(admin_engine, org)
    assert (route["tier"], route["connection_ref"], route["schema_name"]) == (
        "dedicated", t.DEDICATED_REF, None)
    assert t.counts(dedicated_admin, org) == before  # every row in the dedicated database
    assert set(t.counts(admin_engine, org).values()) == {0}  # and none left in the shared one
    for table, sides in move["tables"].items():
        assert sides["source"] == sides["target"], table
        assert sides["source_rows_after_purge"] == 0
    assert usage_seen(runtime_sessions, people["bob"], org) == before_seen
    moved = {k: v for k, v in everyone.items() if k[0] != str(org.id)}
    assert {k: v for k, v in t.all_counts(admin_engine).items()
            if k[0] != str(org.id)} == moved  # other orgs: same rows
    assert bystander

    # New rows in the dedicated database take ids past the copied ones.
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        session.execute(text(
            "INSERT INTO usage_events (org_id, metric, quantity, occurred_at, idempotency_key)"
            " VALUES (:o, 'api_calls', 1, now(), 'after-move')"), {"o": org.id})
    assert t.counts(dedicated_admin, org)["usage_events"] == EVENTS + 1

    back = t.move(database_urls, org, "shared")
    assert back["state"] == "done"
    assert t.route(admin_engine, org)["tier"] == "shared"
    assert t.counts(admin_engine, org)["usage_events"] == EVENTS + 1
    assert set(t.counts(dedicated_admin, org).values()) == {0}
    assert usage_seen(runtime_sessions, people["bob"], org)[0] == before_seen[0]
    with tenancy.scoped_session(runtime_sessions, context) as session:  # ids go on, no clash
        session.execute(text(
            "INSERT INTO usage_events (org_id, metric, quantity, occurred_at, idempotency_key)"
            " VALUES (:o, 'api_calls', 1, now(), 'back-home')"), {"o": org.id})


def test_the_dedicated_gate_admits_only_what_the_shared_gate_signed(
    database_urls, dedicated_admin, runtime_sessions
):
    org, people = factories.org_with_members(owner="owner", bob="member", carol="member")
    factories.usage_daily(org, "api_calls", dt.date.today(), 7)
    other, other_people = factories.org_with_members(owner="owner")
    t.move(database_urls, org, "dedicated")
    assert usage_seen(runtime_sessions, people["bob"], org)[0] != []
    # Another org's member naming this org: the shared gate says no, so no ticket, no rows.
    assert usage_seen(runtime_sessions, other_people["owner"], org) == ([], 0)
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        assert session.scalar(text("SELECT count(*) FROM usage_daily")) == 0

    # The runtime role straight on the dedicated database, forging the context: nothing.
    runtime = provisioning.libpq_url(os.environ[t.DEDICATED_REF])
    with psycopg.connect(runtime) as conn:
        for ticket in ("", f"{org.id}|{people['bob'].id}|||9999999999.00ff",
                       "garbage", f"{org.id}|||"):
            conn.execute("SELECT set_config('app.org_id', %s, true),"
                         " set_config('app.user_id', %s, true),"
                         " set_config('app.tier_ticket', %s, true)",
                         (str(org.id), str(people["bob"].id), ticket))
            assert conn.execute("SELECT count(*) FROM usage_daily").fetchone()[0] == 0
            conn.rollback()
    # A real ticket is bound to its principal and org: carol cannot use bob's.
    with tenancy.scoped_session(runtime_sessions, tenancy.TenantContext(
            user_id=people["bob"].id, org_id=org.id)) as session:
        ticket = session.scalar(text("SELECT app_tier_ticket()"))
    assert ticket
    with psycopg.connect(runtime) as conn:
        conn.execute("SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s,"
                     " true), set_config('app.credential_id', '', true),"
                     " set_config('app.provider_id', '', true),"
                     " set_config('app.tier_ticket', %s, true)",
                     (str(org.id), str(people["carol"].id), ticket))
        assert conn.execute("SELECT count(*) FROM usage_daily").fetchone()[0] == 0
        conn.rollback()
    # The app cannot sign a message of its choosing.
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session, pytest.raises(
        Exception, match="permission denied"
    ):
        session.execute(text("SELECT app_tier_sign('x')"))

    # Removal and suspension cut the dedicated tier on the very next transaction.
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    assert usage_seen(runtime_sessions, people["bob"], org) == ([], 0)
    assert usage_seen(runtime_sessions, people["carol"], org)[0] != []
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=org.id)
    assert usage_seen(runtime_sessions, people["carol"], org) == ([], 0)
    factories.execute("UPDATE organizations SET status = 'active' WHERE id = :o", o=org.id)
    t.move(database_urls, org, "shared")


def test_a_statement_joining_both_databases_is_refused(database_urls, runtime_sessions):
    org, people = factories.org_with_members(owner="owner")
    t.move(database_urls, org, "dedicated")
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    from sqlalchemy import func, select

    from dashboard.models import Membership
    from dashboard.models.usage import UsageDaily

    with tenancy.scoped_session(runtime_sessions, context) as session, pytest.raises(
        dedicated.CrossDatabaseStatement
    ):
        session.execute(select(func.count()).select_from(UsageDaily).join(
            Membership, Membership.org_id == UsageDaily.org_id))
    t.move(database_urls, org, "shared")


@pytest.mark.parametrize("kill_at", ["copy:2", "switch:1"])
def test_a_move_to_dedicated_killed_half_way_resumes_and_ends_verified(
    admin_engine, dedicated_admin, database_urls, runtime_sessions, kill_at
):
    org, people = factories.org_with_members(owner="owner")
    for n in range(5):
        factories.usage_daily(org, "api_calls", dt.date.today() - dt.timedelta(days=n), n)
    before = t.counts(admin_engine, org)
    ref = t.dedicated_database(database_urls)
    script = (
        "import sys; from dashboard.tiers.moves import Mover;"
        "m = Mover(sys.argv[1]);"
        "m.run(m.start(sys.argv[2], 'dedicated', requested_by='test', target=sys.argv[3]))"
    )
    env = dict(os.environ, TENANTDESK_MOVE_KILL_AT=kill_at)
    done = subprocess.run([sys.executable, "-c", script, database_urls.owner, org.slug, ref],
                          env=env, timeout=180)
    assert done.returncode == -9
    move = t.resume(database_urls, org)
    assert move["state"] == "done"
    assert t.counts(dedicated_admin, org) == before
    assert set(t.counts(admin_engine, org).values()) == {0}
    assert len(usage_seen(runtime_sessions, people["owner"], org)[0]) == 5
    t.move(database_urls, org, "shared")


def test_an_aborted_move_leaves_nothing_in_the_dedicated_database(
    admin_engine, dedicated_admin, database_urls
):
    org, _ = factories.org_with_members(owner="owner")
    factories.usage_daily(org, "api_calls", dt.date.today(), 3)
    before = t.counts(admin_engine, org)
    mover = Mover(database_urls.owner)
    try:
        move_id = mover.start(org.slug, "dedicated", "test", target=t.dedicated_database(
            database_urls))
        move = mover.load(move_id)
        mover._freeze(move)
        mover._copy(mover.load(move_id))
        assert t.counts(dedicated_admin, org) == before
        assert mover.abort(move_id)["state"] == "aborted"
    finally:
        mover.close()
    assert set(t.counts(dedicated_admin, org).values()) == {0}
    assert t.counts(admin_engine, org) == before
    assert t.route(admin_engine, org)["state"] == "active"


def test_moves_to_dedicated_need_a_set_environment_variable(database_urls):
    org, _ = factories.org_with_members(owner="owner")
    mover = Mover(database_urls.owner)
    try:
        with pytest.raises(MoveError, match="needs --target"):
            mover.start(org.slug, "dedicated", "test")
        with pytest.raises(MoveError, match="unset"):
            mover.start(org.slug, "dedicated", "test", target="TENANTDESK_NO_SUCH_DB")
        with pytest.raises(MoveError, match="not the name"):
            mover.start(org.slug, "dedicated", "test", target="lower; drop")
    finally:
        mover.close()


def test_migrate_reaches_dedicated_databases(admin_engine, database_urls):
    org, _ = factories.org_with_members(owner="owner")
    t.move(database_urls, org, "dedicated")
    factories.execute("UPDATE tenant_routes SET revision = 'older' WHERE org_id = :o", o=org.id)
    listed = {r.slug: r for r in rollout.migrate_tiers(database_urls.owner, "0", None)}
    assert listed[org.slug].status == "behind"
    listed = {r.slug: r for r in rollout.migrate_tiers(database_urls.owner, "all", org.slug)}
    assert listed[org.slug].status == "migrated"
    assert listed[org.slug].tier == "dedicated"
    assert t.route(admin_engine, org)["revision"] != "older"
    t.move(database_urls, org, "shared")


def test_engines_are_lazy_bounded_and_closed_when_idle(database_urls):
    ref = t.dedicated_database(database_urls)
    engines = dedicated.Engines(idle_seconds=0.0)
    assert engines.open_refs() == []
    engine = engines.get(ref, 2)
    assert engines.open_refs() == [ref] and engines.owns(engine)
    assert engine.pool.size() == 2 and engine.pool._max_overflow == 0
    engines.close_idle()
    assert engines.open_refs() == []
    engines.dispose()


def test_the_dedicated_database_keeps_forced_rls_and_the_dedicated_gate(
    database_urls, dedicated_admin
):
    org, _ = factories.org_with_members(owner="owner")
    t.move(database_urls, org, "dedicated")  # prepares the database if no test did yet
    cell = t.cell_tables(dedicated_admin)
    with dedicated_admin.connect() as conn:
        for table in cell:
            forced = conn.execute(text(
                "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class"
                " WHERE oid = ('public.' || :t)::regclass"), {"t": table}).scalar_one()
            policies = conn.execute(text(
                "SELECT count(*) FROM pg_policies WHERE schemaname = 'public'"
                " AND tablename = :t AND (qual LIKE '%app_current_org()%'"
                " OR with_check LIKE '%app_current_org()%')"), {"t": table}).scalar_one()
            assert forced and policies >= 1, table
        gate = conn.execute(text(
            "SELECT prosrc, prosecdef, pg_get_userbyid(proowner) FROM pg_proc"
            " WHERE proname = 'app_current_org'")).one()
        assert "app.tier_ticket" in gate[0] and gate[1] and gate[2] == "tenantdesk_definer"
        # No key of the gate is readable by the app's role there either.
        assert not conn.execute(text(
            "SELECT has_table_privilege('tenantdesk_app', 'tier_gate_keys', 'SELECT')"
        )).scalar_one()
    t.move(database_urls, org, "shared")


def test_purging_an_org_on_a_dedicated_database_is_refused(database_urls):
    org, _ = factories.org_with_members(owner="owner")
    factories.usage_daily(org, "api_calls", dt.date.today(), 1)
    t.move(database_urls, org, "dedicated")
    with pytest.raises(Exception, match="move it to the shared tier"):
        factories.execute("DELETE FROM organizations WHERE id = :o", o=org.id)
    factories.session().rollback()
    assert factories.execute("SELECT count(*) FROM organizations WHERE id = :o",
                             o=org.id).scalar_one() == 1
    t.move(database_urls, org, "shared")
