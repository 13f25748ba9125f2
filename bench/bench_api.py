"""The JSON API's throughput against the trivial route, and the API key look-up cost.

    .venv/bin/python bench/bench_api.py                       # 5 s x 3 rounds, 200 members
    .venv/bin/python bench/bench_api.py --seconds 8 --rounds 5 --members 1000

Not a test. Picks the database server like the other benchmarks (BENCH_DATABASE_URL,
DATABASE_URL — an admin URL — else the embedded PostgreSQL under bench/out), creates its own
database ``tenantdesk_bench_api`` with one org (enterprise plan, a rate limit far above the
load) of ``--members`` people and a fresh API key with ``members:read``, and serves
Tenantdesk and bench/trivial_app.py with the *same* gunicorn settings (bench/server.py).
wrk then loads, round after round so machine drift spreads evenly:

- ``GET /api/v1/members?limit=50`` with ``Authorization: Bearer td_live_…`` (key look-up,
  HMAC check, gate, plan entitlements, rate-limit counters, metering, 50 members);
- ``GET /api/v1/org`` (the smallest authenticated API call);
- ``GET /`` of the trivial Flask app (the ceiling).

The key look-up cost is timed in-process as the runtime role: ``app_api_key_lookup`` plus
the HMAC-SHA-256 comparison (what every API request pays before its org is known), and the
HMAC alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import seed  # noqa: E402
from load import wrk  # noqa: E402
from server import OUT, Gunicorn, serve  # noqa: E402

DATABASE = "tenantdesk_bench_api"
SECRET_KEY = "bench-api-secret-key-not-for-production"  # noqa: S105 - bench-only server
ORG_SLUG = "bench-api"


def prepare(members: int):
    """Database, org, members and a fresh key. Returns (urls, plaintext key)."""
    from sqlalchemy import create_engine, text

    from dashboard import migrate, provisioning
    from dashboard.apikeys import tokens

    urls = provisioning.bootstrap(seed.admin_url()[0], DATABASE)
    migrate.upgrade(urls.owner)
    engine = create_engine(urls.admin)
    with engine.begin() as conn:
        org_id = conn.scalar(text("SELECT id FROM organizations WHERE slug = :s"),
                             {"s": ORG_SLUG})
        if org_id is None:
            org_id = conn.scalar(text(
                "INSERT INTO organizations (slug, name, plan) VALUES (:s, 'Bench API',"
                " 'enterprise') RETURNING id"), {"s": ORG_SLUG})
            conn.execute(text(
                "INSERT INTO licenses (org_id, plan, rate_limit_per_minute, valid_from)"
                " VALUES (:o, 'enterprise', 100000000, now() - interval '1 day')"),
                {"o": org_id})
        have = conn.scalar(text("SELECT count(*) FROM memberships WHERE org_id = :o"),
                           {"o": org_id})
        for i in range(have, members):
            user_id = conn.scalar(text(
                "INSERT INTO users (email, name) VALUES (:e, :n) RETURNING id"),
                {"e": f"bench-api-{i}@example.com", "n": f"Bench Person {i:05d}"})
            conn.execute(text(
                "INSERT INTO memberships (org_id, user_id, role) VALUES (:o, :u, :r)"),
                {"o": org_id, "u": user_id, "r": "owner" if i == 0 else "member"})
        prefix, secret, plaintext = tokens.generate()
        conn.execute(text(
            "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash, scopes)"
            " VALUES (:o, 'api_key', 'bench', :p, :h, '{members:read}')"),
            {"o": org_id, "p": prefix,
             "h": tokens.hash_secret(tokens.server_key(None, SECRET_KEY), prefix, secret)})
    engine.dispose()
    return urls, plaintext


def lookup_cost(urls, plaintext: str, iterations: int) -> dict:
    """µs per look-up (definer function + HMAC) and per HMAC alone, as the runtime role."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from dashboard import tenancy
    from dashboard.apikeys import service, tokens

    key = tokens.server_key(None, SECRET_KEY)
    engine = create_engine(urls.runtime, pool_size=1)
    session = sessionmaker(engine)()
    tenancy.bind(session, tenancy.NOBODY)
    for _ in range(50):
        service.authenticate(session, plaintext, key)  # warm-up (plan cache, connection)
    started = time.perf_counter()
    for _ in range(iterations):
        service.authenticate(session, plaintext, key)
    lookup_us = (time.perf_counter() - started) / iterations * 1e6
    session.close()
    engine.dispose()
    parsed, stored = tokens.parse(plaintext), tokens.hash_secret(key, "x" * 12, "y")
    started = time.perf_counter()
    for _ in range(iterations * 20):
        tokens.matches(key, parsed, stored)
    hmac_us = (time.perf_counter() - started) / (iterations * 20) * 1e6
    return {"lookup_us": round(lookup_us, 1), "hmac_us": round(hmac_us, 2),
            "iterations": iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()

    urls, plaintext = prepare(args.members)
    settings = Gunicorn()
    env = {"DATABASE_URL": urls.runtime, "MIGRATION_DATABASE_URL": urls.owner,
           "SECRET_KEY": SECRET_KEY, "INSTANCE_PATH": str(OUT / "bench-api-instance"),
           "DB_POOL_SIZE": str(settings.threads + 1)}
    env.pop("REDIS_URL", None)
    targets = {
        "trivial Flask route": ("/", None),
        "GET /api/v1/org": ("/api/v1/org", plaintext),
        "GET /api/v1/members?limit=50": ("/api/v1/members?limit=50", plaintext),
    }
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    with serve("wsgi:app", settings, env, ready_path="/api/v1/openapi.json",
               name="bench-api") as (api_base, _), \
         serve("trivial_app:app", settings, chdir=Path(__file__).resolve().parent,
               ready_path="/", name="bench-api-trivial") as (trivial_base, _):
        for path, token in targets.values():  # warm-up
            base = trivial_base if token is None else api_base
            wrk(base, "bearer.lua", [path] + ([token] if token else []), seconds=1,
                connections=args.connections, threads=2)
        for _ in range(args.rounds):
            for name, (path, token) in targets.items():
                base = trivial_base if token is None else api_base
                result = wrk(base, "bearer.lua", [path] + ([token] if token else []),
                             seconds=args.seconds, connections=args.connections, threads=2)
                runs[name].append(result)
    lookup = lookup_cost(urls, plaintext, args.lookups)

    trivial_rps = statistics.median(r["rps"] for r in runs["trivial Flask route"])
    rows = []
    for name, results in runs.items():
        rps = statistics.median(r["rps"] for r in results)
        rows.append({
            "target": name, "rps": rps,
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "errors": sum(r["errors"] for r in results),
            "of_trivial": round(rps / trivial_rps, 3) if trivial_rps else None,
        })
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {**settings.describe(), "connections": args.connections,
                     "seconds": args.seconds, "rounds": args.rounds,
                     "members": args.members, "load": os.getloadavg()},
        "rows": rows, "key_lookup": lookup,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_api.json").write_text(json.dumps(report, indent=2))
    print(f"{'target':32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'of trivial':>11} errors")
    for row in rows:
        print(f"{row['target']:32} {row['rps']:8.1f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f}"
              f" {row['of_trivial']:11.3f} {row['errors']}")
    print(f"key look-up (definer function + HMAC, runtime role): {lookup['lookup_us']} µs;"
          f" HMAC-SHA-256 compare alone: {lookup['hmac_us']} µs")
    print(f"gunicorn {settings.describe()}, {args.connections} connections, "
          f"{args.rounds} x {args.seconds:g} s, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
