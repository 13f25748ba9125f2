"""Isolation tiers: issue 20's table per tier, moving a 5,000-member org, the statement timeout.

    .venv/bin/python bench/bench_tiers.py --iterations 100   # 5,000 + 100,000 members
    .venv/bin/python bench/bench_tiers.py --huge-members 0   # without the 100,000-member row

Creates the database ``tenantdesk_bench_tiers`` (on BENCH_DATABASE_URL, DATABASE_URL, else
the embedded PostgreSQL under bench/out), seeds one org with N members and a year of usage
history (daily rollups for 4 metrics plus raw events), a second org with --huge-members
members, and four logins, then:

1. issue 20's table per tier: the pages of bench/run.py's table (whoami, org home, members,
   members search, members of the 100,000-member org, usage page, usage chart data, org switch)
   of the same orgs on the shared tier, on a schema of their own, on a dedicated database
   (``tenantdesk_bench_tiers_dedicated`` on the same server, named by the environment
   variable BENCH_TIERS_DEDICATED), and on the shared tier again (A-B-A: the drift of the
   machine shows). Measured by bench/bench_profile.py in this process (the real app, test
   client, RLS on): CPU ms per request of this process and of PostgreSQL (every backend of
   the server), statements per request (both databases), against issue 20's targets;
2. moves: shared -> schema -> dedicated -> shared with the real mover (copy, verify, switch,
   purge), the time of each and the rows it carried; pages and exports fetched right before
   and after each move must be identical;
3. the context statement with and without the route, and the route look-up alone;
4. statement timeout: the org's budget set to 250 ms, a deliberately slow query
   (``pg_sleep(10)``) in the org's transaction: how long until PostgreSQL cuts it.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASE = "tenantdesk_bench_tiers"
DEDICATED_REF = "BENCH_TIERS_DEDICATED"
SLUG = "bench-tiers"
HUGE_SLUG = "bench-tiers-huge"  # the 100,000-member org; also the org switch's second org
OWNER = "owner@bench-tiers.example"
LOGINS = [OWNER, *(f"login{i}@bench-tiers.example" for i in (1, 2, 3))]  # as seed.Dataset's
PASSWORD = "bench tiers password"  # noqa: S105 - a throwaway benchmark account
METRICS = ("api_calls", "active_users", "seats", "storage_bytes")


def seed(admin: str, members: int, events: int, huge_members: int):
    """(urls, org id, dataset): the orgs and logins, as bench/bench_profile.py reads them
    from a ``seed.Dataset``."""
    import os

    import psycopg
    import seed as bench_seed

    from dashboard import migrate, provisioning
    from dashboard.auth.passwords import Passwords

    urls = provisioning.bootstrap(admin, DATABASE)
    migrate.upgrade(urls.owner)
    dedicated = provisioning.bootstrap(admin, DATABASE + "_dedicated")
    os.environ[DEDICATED_REF] = dedicated.runtime
    os.environ[DEDICATED_REF + "_OWNER"] = dedicated.owner
    from dashboard.tiers import dedicated as dedicated_tier

    dedicated_tier.prepare(urls.owner, DEDICATED_REF)  # migrated before the move is timed
    with psycopg.connect(provisioning.libpq_url(dedicated.admin)) as conn:  # earlier runs
        conn.execute("TRUNCATE usage_events, usage_daily, usage_alerts, scim_group_members,"
                     " scim_users, scim_groups, scim_requests")
    with psycopg.connect(provisioning.libpq_url(urls.admin)) as conn:
        conn.execute("DELETE FROM tenant_routes")
        for (nsp,) in conn.execute("SELECT nspname FROM pg_namespace"
                                   " WHERE nspname LIKE 'tenant\\_%'").fetchall():
            conn.execute(f'DROP SCHEMA "{nsp}" CASCADE')
        conn.execute("DELETE FROM tenant_moves")
        conn.execute("TRUNCATE organizations, users CASCADE")
        org_id, huge_id = (conn.execute(
            "INSERT INTO organizations (slug, name, plan) VALUES (%s, %s, 'enterprise')"
            " RETURNING id", (slug, name)).fetchone()[0]
            for slug, name in ((SLUG, "Bench Tiers"), (HUGE_SLUG, "Bench Tiers Huge")))
        hashed = Passwords().hash(PASSWORD)
        for n, email in enumerate(LOGINS):  # members of both orgs (the switch flips them)
            user = conn.execute(
                "INSERT INTO users (email, name, password_hash, last_org_id) VALUES"
                " (%s, %s, %s, %s) RETURNING id",
                (email, f"Login {n}", hashed, huge_id if n == 2 else org_id)).fetchone()[0]
            conn.execute("INSERT INTO memberships (org_id, user_id, role) VALUES"
                         " (%s, %s, %s), (%s, %s, 'admin')",
                         (org_id, user, "owner" if n == 0 else "admin", huge_id, user))
        for org, count, prefix in ((org_id, members, "p"), (huge_id, huge_members, "h")):
            conn.execute(  # names like bench/seed.py's, so the search finds some
                "WITH u AS (INSERT INTO users (email, name)"
                " SELECT %(prefix)s || g || '@bench-tiers.example',"
                " (%(first)s::text[])[1 + g %% %(firsts)s] || ' '"
                " || (%(last)s::text[])[1 + (g / %(firsts)s) %% %(lasts)s]"
                " FROM generate_series(1, %(count)s) g RETURNING id)"
                " INSERT INTO memberships (org_id, user_id, role) SELECT %(org)s, id, 'member'"
                " FROM u",
                {"prefix": prefix, "first": bench_seed.FIRST, "firsts": len(bench_seed.FIRST),
                 "last": bench_seed.LAST, "lasts": len(bench_seed.LAST), "count": count,
                 "org": org})
        conn.execute(
            "INSERT INTO usage_daily (org_id, metric, day, total)"
            " SELECT %s, m, current_date - d, (random() * 1000)::int"
            " FROM unnest(%s::text[]) m, generate_series(0, 364) d", (org_id, list(METRICS)))
        conn.execute(
            "INSERT INTO usage_events (org_id, metric, quantity, occurred_at, idempotency_key)"
            " SELECT %s, 'api_calls', 1 + g %% 7, now() - (g %% 365) * interval '1 day',"
            " 'bench-' || g FROM generate_series(1, %s) g", (org_id, events))
        for n in range(5):  # neighbours in the same tables
            other = conn.execute("INSERT INTO organizations (slug, name) VALUES (%s, %s)"
                                 " RETURNING id", (f"noise-{n}", f"Noise {n}")).fetchone()[0]
            conn.execute("INSERT INTO usage_daily (org_id, metric, day, total) SELECT %s,"
                         " 'api_calls', current_date - d, d FROM generate_series(0, 364) d",
                         (other,))
        # what ingestion raises with every rollup write: the usage pages cache on it
        conn.execute("INSERT INTO usage_revisions (org_id, revision)"
                     " SELECT DISTINCT org_id, 1 FROM usage_daily")
        conn.commit()
        conn.execute("ANALYZE")
    dataset = bench_seed.Dataset(
        database=DATABASE, scale={}, big_org={"slug": SLUG, "id": str(org_id),
                                              "members": members + len(LOGINS)},
        huge_org=({"slug": HUGE_SLUG, "id": str(huge_id), "members": huge_members + len(LOGINS)}
                  if huge_members else None),
        switch_slugs=[SLUG, HUGE_SLUG], logins=LOGINS, password=PASSWORD)
    return urls, org_id, dataset


def app_for(urls):
    from dashboard import create_app

    return create_app({"DATABASE_URLS": urls, "SECRET_KEY": secrets.token_hex(32),
                       "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-tiers-"),
                       "DB_POOL_SIZE": 4})


def signed_in(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"csrf_token": token, "email": OWNER,
                                         "password": PASSWORD})
    assert answer.status_code == 302, answer.status_code
    return client


def _normalized(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    body = response.get_data(as_text=True)
    body = re.sub(r'(X-CSRFToken": "|name="csrf_token" (?:type="hidden" )?value=")[^"]+',
                  r"\1-", body)
    # "· 2 min ago" becomes "· 3 min ago" while the move runs: the clock, not the data
    return re.sub(r"· [^<]* ago<", "· - ago<", body)


def _first_change(before: str, after: str) -> str:
    """The first lines that differ, for the report."""
    changed = [line.strip() for line in difflib.unified_diff(
        before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    return " / ".join(changed[:4])[:400]


def move(urls, to: str, slug: str = SLUG) -> tuple[float, int]:
    from dashboard.tiers.moves import Mover

    mover = Mover(urls.owner)
    target = DEDICATED_REF if to == "dedicated" else None
    try:
        started = time.perf_counter()
        done = mover.run(mover.start(slug, to, requested_by="bench", target=target))
        seconds = time.perf_counter() - started
    finally:
        mover.close()
    rows = sum(t["source"]["rows"] for t in done["tables"].values())
    assert done["state"] == "done"
    return seconds, rows


def timeout_cut(urls, app, org_id) -> float:
    import psycopg
    from sqlalchemy.exc import OperationalError

    from dashboard import provisioning, tenancy

    with psycopg.connect(provisioning.libpq_url(urls.admin), autocommit=True) as conn:
        owner = conn.execute("SELECT id FROM users WHERE email = %s", (OWNER,)).fetchone()[0]
        conn.execute("UPDATE tenant_routes SET statement_timeout_ms = 250 WHERE org_id = %s",
                     (org_id,))
        conn.execute("INSERT INTO tenant_routes (org_id, statement_timeout_ms) VALUES (%s, 250)"
                     " ON CONFLICT (org_id) DO NOTHING", (org_id,))
    from sqlalchemy import text

    factory = app.extensions["tenantdesk.db"].sessionmaker
    context = tenancy.TenantContext(user_id=owner, org_id=org_id)
    started = time.perf_counter()
    try:
        with tenancy.scoped_session(factory, context) as session:
            session.execute(text("SELECT pg_sleep(10)"))
    except OperationalError as exc:
        assert "statement timeout" in str(exc)
    else:
        raise AssertionError("the slow query was not cut")
    cut = time.perf_counter() - started
    with psycopg.connect(provisioning.libpq_url(urls.admin), autocommit=True) as conn:
        conn.execute("UPDATE tenant_routes SET statement_timeout_ms = NULL WHERE org_id = %s",
                     (org_id,))
    return cut


def context_cost(urls, org_id, transactions: int = 2000) -> dict[str, float]:
    """µs per transaction for BEGIN + the context statement + COMMIT, without and with the
    route (what tiers add to every transaction of every request)."""
    import psycopg

    from dashboard import provisioning, tenancy

    plain = ("SELECT set_config('app.user_id', %(user_id)s, true),"
             " set_config('app.org_id', %(org_id)s, true),"
             " set_config('app.credential_id', %(credential_id)s, true),"
             " set_config('app.provider_id', %(provider_id)s, true)")
    routed = tenancy._SET_CONTEXT_SQL.replace(":user_id", "%(user_id)s")
    for name in ("org_id", "credential_id", "provider_id"):
        routed = routed.replace(f":{name}", f"%({name})s")
    with psycopg.connect(provisioning.libpq_url(urls.admin), autocommit=True) as conn:
        owner = conn.execute("SELECT id FROM users WHERE email = %s", (OWNER,)).fetchone()[0]
    params = tenancy.TenantContext(user_id=owner, org_id=org_id).as_params()
    out = {}
    with psycopg.connect(provisioning.libpq_url(urls.runtime)) as conn:
        for name, sql in (("without route", plain), ("with route", routed)) * 2:
            started = time.perf_counter()
            for _ in range(transactions):
                conn.execute(sql, params).fetchall()
                conn.commit()
            out[name] = (time.perf_counter() - started) * 1e6 / transactions
    return out


TIERS = ("shared", "schema", "dedicated", "shared again")  # A-B-C-A: drift shows as A vs A'


def issue20_per_tier(urls, dataset, requests: int, db_pid: int | None) -> dict:
    """bench/bench_profile.py's in-process figures of issue 20's pages, on the current tier."""
    import bench_profile
    import run

    wanted = [key for key, *_ in run.ISSUE20]
    return bench_profile.measure(urls, dataset, wanted, requests, profile_requests=0,
                                 db_pid=db_pid, log=lambda *_: None)


def print_table(costs: dict[str, dict], requests: int) -> None:
    import run

    print(f"\nIssue 20's table per tier, {requests} requests per page and tier (in-process;"
          " CPU ms per request of this process + of PostgreSQL, every backend; statements"
          " per request, on the dedicated database in brackets)")
    header = ("page", "tier", "app", "db", "total", "stmts", "target", "met")
    rows = [header]
    for key, label, _before, target in run.ISSUE20:
        for tier, figures in costs.items():
            entry = figures.get(key, {})
            if "app_cpu_ms" not in entry:
                rows.append((label, tier, entry.get("not_available", "not measured"),
                             "", "", "", "", ""))
                continue
            totals = {k: e["total_cpu_ms"] for k, e in figures.items() if "total_cpu_ms" in e}
            limit, target_text = run.issue20_limit(target, totals)
            total = entry.get("total_cpu_ms")
            met = None if total is None or limit is None else total <= limit
            stmts = str(entry["statements_per_request"]) + (
                f" ({entry['dedicated_statements']})" if entry["dedicated_statements"] else "")
            rows.append((label, tier, f"{entry['app_cpu_ms']:.2f}",
                         "" if entry["db_cpu_ms"] is None else f"{entry['db_cpu_ms']:.2f}",
                         "" if total is None else f"{total:.2f}", stmts, target_text,
                         {True: "met", False: "NOT met", None: "-"}[met]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    import cpu
    import seed as bench_seed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--huge-members", type=int, default=100000,
                        help="members of the second org (0: no 100,000-member row)")
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--iterations", type=int, default=200,
                        help="requests per page and tier")
    args = parser.parse_args(argv)
    admin, source = bench_seed.admin_url()
    started = time.time()
    print(f"Database {DATABASE} on {source}: seeding {args.members:,} + {args.huge_members:,}"
          f" members, {len(METRICS) * 365:,} daily rollups, {args.events:,} usage events",
          flush=True)
    urls, org_id, dataset = seed(admin, args.members, args.events, args.huge_members)
    print(f"seeded in {time.time() - started:.0f} s", flush=True)
    db_pid = cpu.postmaster_pid(admin)
    app = app_for(urls)
    client = signed_in(app)
    compare = [f"/o/{SLUG}/usage", f"/o/{SLUG}/members?per_page=50", f"/o/{SLUG}/",
               f"/o/{SLUG}/usage/data.json?range=365", f"/o/{SLUG}/usage.csv?range=365",
               f"/o/{SLUG}/members?per_page=50&page=37"]
    costs, differences = {}, []
    log = bench_seed.OUT_DIR / "bench_tiers.log"  # the app's request log, as gunicorn's
    print(f"request log: {log}", flush=True)
    with log.open("w") as stderr, contextlib.redirect_stderr(stderr):
        for tier in TIERS:
            if tier != "shared":
                to = "shared" if tier == "shared again" else tier
                before = [_normalized(client, p) for p in compare]  # right before and after
                seconds, rows = move(urls, to)
                after = [_normalized(client, p) for p in compare]
                differences += [f"{p} (-> {to}): {_first_change(b, a)}"
                                for p, b, a in zip(compare, before, after, strict=True) if a != b]
                print(f"move -> {to}: {seconds:.2f} s for {rows:,} cell rows"
                      f" ({rows / seconds:,.0f} rows/s), verified, source purged", flush=True)
                seconds, _ = move(urls, to, HUGE_SLUG)  # only control-plane rows: none move
                print(f"move {HUGE_SLUG} -> {to}: {seconds:.2f} s", flush=True)
            costs[tier] = issue20_per_tier(urls, dataset, args.iterations, db_pid)
            print(f"measured the pages on the {tier} tier", flush=True)
    print_table(costs, args.iterations)
    same = "identical (CSRF tokens and relative times aside)"
    print(f"\n{len(compare)} pages and exports, fetched right before and right after each move:"
          f" {'DIFFERENT: ' + '; '.join(differences) if differences else same}")
    cost = context_cost(urls, org_id)
    print("\ncontext statement per transaction (BEGIN + statement + COMMIT, runtime role):"
          f" {cost['without route']:.0f} µs without the route,"
          f" {cost['with route']:.0f} µs with it")
    cut = timeout_cut(urls, app, org_id)
    print(f"\nstatement_timeout 250 ms: pg_sleep(10) cut after {cut * 1000:.0f} ms")
    app.extensions["tenantdesk.db"].dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
