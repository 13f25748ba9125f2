"""Isolation tiers: page cost per tier, moving a 5,000-member org, the statement timeout.

    .venv/bin/python bench/bench_tiers.py                    # 5,000 members, 200 requests/tier
    .venv/bin/python bench/bench_tiers.py --events 200000 --iterations 400

Creates the database ``tenantdesk_bench_tiers`` (on BENCH_DATABASE_URL, DATABASE_URL, else
the embedded PostgreSQL under bench/out), seeds one org with N members and a year of usage
history (daily rollups for 4 metrics plus raw events), then:

1. page cost: the same pages of the same org, on the shared tier, on a schema of its own and
   on a dedicated database (``tenantdesk_bench_tiers_dedicated`` on the same server, named by
   the environment variable BENCH_TIERS_DEDICATED), through the real app in this process
   (test client, RLS on): server time per request and this process's CPU per request;
2. moves: shared -> schema -> dedicated -> shared with the real mover (copy, verify, switch,
   purge), the time of each and the rows it carried;
3. statement timeout: the org's budget set to 250 ms, a deliberately slow query
   (``pg_sleep(10)``) in the org's transaction: how long until PostgreSQL cuts it.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASE = "tenantdesk_bench_tiers"
DEDICATED_REF = "BENCH_TIERS_DEDICATED"
SLUG = "bench-tiers"
OWNER = "owner@bench-tiers.example"
PASSWORD = "bench tiers password"  # noqa: S105 - a throwaway benchmark account
METRICS = ("api_calls", "active_users", "seats", "storage_bytes")


def seed(admin: str, members: int, events: int):
    import psycopg

    from dashboard import migrate, provisioning
    from dashboard.auth.passwords import Passwords

    urls = provisioning.bootstrap(admin, DATABASE)
    migrate.upgrade(urls.owner)
    import os

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
        org_id = conn.execute(
            "INSERT INTO organizations (slug, name, plan) VALUES (%s, 'Bench Tiers',"
            " 'enterprise') RETURNING id", (SLUG,)).fetchone()[0]
        owner = conn.execute(
            "INSERT INTO users (email, name, password_hash, last_org_id) VALUES"
            " (%s, 'Owen Owner', %s, %s) RETURNING id",
            (OWNER, Passwords().hash(PASSWORD), org_id)).fetchone()[0]
        conn.execute("INSERT INTO memberships (org_id, user_id, role) VALUES (%s, %s, 'owner')",
                     (org_id, owner))
        conn.execute(
            "WITH u AS (INSERT INTO users (email, name) SELECT 'p' || g || '@bench-tiers.example',"
            " 'Person ' || g FROM generate_series(1, %s) g RETURNING id)"
            " INSERT INTO memberships (org_id, user_id, role) SELECT %s, id, 'member' FROM u",
            (members, org_id))
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
        conn.commit()
        conn.execute("ANALYZE")
    return urls, org_id


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


def page_cost(client, path: str, iterations: int, warmup: int = 20) -> dict:
    for _ in range(warmup):
        assert client.get(path).status_code == 200, path
    wall, cpu0 = [], time.process_time()
    for _ in range(iterations):
        started = time.perf_counter()
        response = client.get(path)
        response.get_data()
        wall.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    cpu = (time.process_time() - cpu0) * 1000 / iterations
    return {"p50": statistics.median(wall), "mean": statistics.fmean(wall), "cpu": cpu}


def _normalized(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    body = response.get_data(as_text=True)
    return re.sub(r'(X-CSRFToken": "|name="csrf_token" (?:type="hidden" )?value=")[^"]+',
                  r"\1-", body)


def move(urls, to: str) -> tuple[float, int]:
    from dashboard.tiers.moves import Mover

    mover = Mover(urls.owner)
    target = DEDICATED_REF if to == "dedicated" else None
    try:
        started = time.perf_counter()
        done = mover.run(mover.start(SLUG, to, requested_by="bench", target=target))
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


def main(argv: list[str] | None = None) -> int:
    import seed as bench_seed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args(argv)
    admin, source = bench_seed.admin_url()
    print(f"Database {DATABASE} on {source}: seeding {args.members:,} members,"
          f" {len(METRICS) * 365:,} daily rollups, {args.events:,} usage events", flush=True)
    urls, org_id = seed(admin, args.members, args.events)
    app = app_for(urls)
    client = signed_in(app)
    pages = [f"/o/{SLUG}/usage", f"/o/{SLUG}/members?per_page=50", f"/o/{SLUG}/"]
    costs, differences = {}, []
    compare = [*pages, f"/o/{SLUG}/usage/data.json?range=365", f"/o/{SLUG}/usage.csv?range=365",
               f"/o/{SLUG}/members?per_page=50&page=37"]
    # shared, schema, dedicated, shared again: drift of the shared machine shows as A vs A'.
    for tier in ("shared", "schema", "dedicated", "shared again"):
        if tier != "shared":
            to = "shared" if tier == "shared again" else tier
            before = [_normalized(client, p) for p in compare]  # right before and after
            seconds, rows = move(urls, to)
            after = [_normalized(client, p) for p in compare]
            differences += [f"{p} (-> {to})" for p, b, a in zip(compare, before, after,
                                                               strict=True) if a != b]
            print(f"move -> {to}: {seconds:.2f} s for {rows:,} cell rows"
                  f" ({rows / seconds:,.0f} rows/s), verified, source purged")
        costs[tier] = {p: page_cost(client, p, args.iterations) for p in pages}
    print(f"\nPage cost per tier, same org, {args.iterations} requests each"
          " (server time ms in-process; CPU ms of this process per request)")
    print(f"{'page':<34} {'tier':<12} {'p50':>7} {'mean':>7} {'cpu':>7}")
    for page in pages:
        for tier in costs:
            c = costs[tier][page]
            print(f"{page:<34} {tier:<12} {c['p50']:>7.2f} {c['mean']:>7.2f} {c['cpu']:>7.2f}")
    print(f"\n{len(compare)} pages and exports, fetched right before and right after each move:"
          f" {'identical (CSRF tokens aside)' if not differences else 'DIFFERENT: '}"
          + ", ".join(differences))
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
