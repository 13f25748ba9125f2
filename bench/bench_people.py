"""What RLS on people costs (issue 24): the principal loader's query (every request) and the
members page's query, with ``users``/``user_sessions`` under their person-scoped policies vs.
the very same queries with RLS switched off on those two tables (not a test).

    .venv/bin/python bench/bench_people.py                       # 5,000 members, 100,000 others
    .venv/bin/python bench/bench_people.py --others 195000 --rounds 7

Creates (once; reused afterwards) ``tenantdesk_bench_people`` on the server bench/seed.py
picks (BENCH_DATABASE_URL, DATABASE_URL, else the embedded PostgreSQL under bench/out): one
org of N members plus people elsewhere. Both sides run as the runtime role in the owner's RLS
context on one connection, each query prepared (as psycopg does after 5 runs); rounds
alternate policies on / RLS off (a superuser toggles ``ALTER TABLE ... DISABLE ROW LEVEL
SECURITY`` between rounds, on this throwaway database only) and the medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASE = "tenantdesk_bench_people"
SLUG = "bench-people"

# The members page's query as dashboard/members/service.py builds it (a per-member LATERAL
# look-up of the person, the total as a window count), and the same with a search.
_MEMBERS = (
    "SELECT m.user_id, p.name, p.email, m.role, m.created_at, m.last_active_at,"
    " count(*) OVER () AS total"
    " FROM memberships m JOIN LATERAL (SELECT u.name, u.email FROM users u"
    "                                   WHERE u.id = m.user_id OFFSET 0) p ON true"
    " WHERE m.org_id = %(oid)s {search}"
    " ORDER BY lower(p.name), m.user_id LIMIT 50 OFFSET 0"
)
MEMBERS_SQL = _MEMBERS.format(search="")
SEARCH_SQL = _MEMBERS.format(search="AND (p.name ILIKE '%%ada%%' OR p.email ILIKE '%%ada%%')")


def seed(admin: str, members: int, others: int):
    import psycopg

    from dashboard import migrate, provisioning

    urls = provisioning.bootstrap(admin, DATABASE)
    migrate.upgrade(urls.owner)
    with psycopg.connect(provisioning.libpq_url(urls.admin)) as conn:
        have = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        layout = conn.execute("SELECT obj_description('users'::regclass)").fetchone()[0]
        if have != members + others or layout != "bench_people v2":
            print(f"  {DATABASE}: seeding {members:,} members and {others:,} others ...",
                  flush=True)
            conn.execute("TRUNCATE organizations, users CASCADE")
            org = conn.execute("INSERT INTO organizations (slug, name) VALUES (%s, 'Bench')"
                               " RETURNING id", (SLUG,)).fetchone()[0]
            conn.execute(
                "INSERT INTO users (email, name)"
                " SELECT 'p' || g || '@bench-people.example',"
                "        (ARRAY['Ada','Ben','Chen','Dana','Eli'])[1 + g %% 5] || ' ' || g"
                "   FROM generate_series(1, %s) g", (members + others,))
            conn.execute(
                "INSERT INTO memberships (org_id, user_id, role)"
                " SELECT %s, id, CASE WHEN n = 1 THEN 'owner' ELSE 'member' END"
                "   FROM (SELECT id, row_number() OVER (ORDER BY md5(id::text)) AS n"
                "           FROM users) u"  # members spread over the id range, as in life
                "  WHERE n <= %s", (org, members))
            conn.execute("INSERT INTO user_sessions (user_id, org_id)"
                         " SELECT user_id, org_id FROM memberships WHERE role = 'owner'")
            conn.execute("COMMENT ON TABLE users IS 'bench_people v2'")
            conn.commit()
            conn.execute("ANALYZE")
        row = conn.execute(
            "SELECT s.id, s.user_id, s.org_id FROM user_sessions s"
            " JOIN memberships m ON m.user_id = s.user_id AND m.role = 'owner'"
            " JOIN organizations o ON o.id = m.org_id AND o.slug = %s LIMIT 1", (SLUG,)
        ).fetchone()
    return urls, row


def _rls(urls, on: bool) -> None:
    import psycopg

    from dashboard import provisioning

    with psycopg.connect(provisioning.libpq_url(urls.admin), autocommit=True) as conn:
        for table in ("users", "user_sessions"):
            conn.execute(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} ROW LEVEL SECURITY")


def _time(conn, sql: str, params: dict, iterations: int) -> float:
    """Median microseconds of one execution (prepared, fetched)."""
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        conn.execute(sql, params, prepare=True).fetchall()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def measure(urls, session_row, iterations: int, rounds: int) -> dict[str, dict[str, float]]:
    import psycopg

    from dashboard import provisioning
    from dashboard.auth.principal import _BUILTIN, _LOAD_SQL

    sid, uid, oid = (str(v) for v in session_row)
    loader = str(_LOAD_SQL.compile(compile_kwargs={})).replace(":touch", "%(touch)s")
    for name in ("idle", "sid", "uid", "oid", "sg", "builtin"):
        loader = loader.replace(f":{name}", f"%({name})s")
    params = {"sid": sid, "uid": uid, "oid": oid, "sg": "", "touch": timedelta(seconds=60),
              "idle": timedelta(days=14), "builtin": _BUILTIN}
    queries = {"principal loader": (loader, params),
               "members page (50 of 5,000)": (MEMBERS_SQL, {"oid": oid}),
               "members search 'ada'": (SEARCH_SQL, {"oid": oid})}
    results: dict[str, dict[str, list[float]]] = {q: {"policies": [], "rls off": []}
                                                  for q in queries}
    try:
        for _ in range(rounds):
            for side in ("policies", "rls off"):
                _rls(urls, side == "policies")
                with psycopg.connect(provisioning.libpq_url(urls.runtime)) as conn:
                    conn.execute("SELECT set_config('app.user_id', %s, false),"
                                 " set_config('app.org_id', %s, false)", (uid, oid))
                    for name, (sql, args) in queries.items():
                        rows = conn.execute(sql, args).fetchall()
                        assert rows, f"{name}: no rows on side {side}"
                        results[name][side].append(_time(conn, sql, args, iterations))
    finally:
        _rls(urls, True)
    return {q: {side: statistics.median(v) for side, v in sides.items()}
            for q, sides in results.items()}


def main(argv: list[str] | None = None) -> int:
    import seed as bench_seed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--others", type=int, default=100000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    admin, source = bench_seed.admin_url()
    print(f"Database {DATABASE} on {source}", flush=True)
    urls, session_row = seed(admin, args.members, args.others)
    results = measure(urls, session_row, args.iterations, args.rounds)
    print(f"\n{args.members:,} members, {args.others:,} other users; median of {args.rounds}"
          f" rounds x {args.iterations} runs, microseconds per query (client round trip"
          " included)")
    print(f"{'query':<30} {'policies':>9} {'RLS off':>9} {'ratio':>6}")
    for name, sides in results.items():
        print(f"{name:<30} {sides['policies']:>9.0f} {sides['rls off']:>9.0f}"
              f" {sides['policies'] / sides['rls off']:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
