"""Provisioning through SCIM: time to create 5,000 users and 50 groups over HTTP.

    .venv/bin/python bench/bench_scim.py                          # 5,000 users, 50 groups
    .venv/bin/python bench/bench_scim.py --users 500 --groups 5   # a quick look

Not a test. Picks the database server like the other benchmarks (BENCH_DATABASE_URL,
DATABASE_URL — an admin URL — else the embedded PostgreSQL under bench/out), creates its own
database ``tenantdesk_bench_scim`` and, on every run, a fresh org on the enterprise plan with
a verified domain (so every user becomes a member at once, the most work per request: person,
membership, two audit rows, the request log) and a fresh SCIM token. Tenantdesk is served by
gunicorn (bench/server.py settings) with SCIM_RATE_LIMIT far above the load, and driven like
an IdP's first sync: ``--concurrency`` clients POST /Users, then POST /Groups with an even
share of the users as members (at most 1,000 per request, as the server allows), then one
``PATCH`` per group removing a member (the recurring shape). Prints wall-clock times,
requests/s and p50/p99 per request.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import seed  # noqa: E402
from server import OUT, Gunicorn, serve  # noqa: E402

DATABASE = "tenantdesk_bench_scim"
SECRET_KEY = "bench-scim-secret-key-not-for-production"  # noqa: S105 - bench-only server
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def prepare():
    """Database, a fresh org with a verified domain, and a SCIM token: (urls, token, domain)."""
    from sqlalchemy import create_engine, text

    from dashboard import migrate, provisioning
    from dashboard.apikeys import tokens as key_tokens
    from dashboard.scim import tokens

    urls = provisioning.bootstrap(seed.admin_url()[0], DATABASE)
    migrate.upgrade(urls.owner)
    tag = secrets.token_hex(4)
    domain = f"bench-{tag}.example"
    prefix, secret, plaintext = tokens.generate()
    engine = create_engine(urls.admin)
    with engine.begin() as conn:
        org_id = conn.scalar(text(
            "INSERT INTO organizations (slug, name, plan) VALUES (:s, :n, 'enterprise')"
            " RETURNING id"), {"s": f"bench-scim-{tag}", "n": f"Bench SCIM {tag}"})
        conn.execute(text(
            "INSERT INTO licenses (org_id, plan, rate_limit_per_minute, valid_from)"
            " VALUES (:o, 'enterprise', 100000000, now() - interval '1 day')"), {"o": org_id})
        conn.execute(text(
            "INSERT INTO sso_domains (org_id, domain, token, verified_at)"
            " VALUES (:o, :d, :t, now())"), {"o": org_id, "d": domain, "t": secrets.token_hex(16)})
        conn.execute(text(
            "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash)"
            " VALUES (:o, 'scim', 'bench', :p, :h)"),
            {"o": org_id, "p": prefix,
             "h": key_tokens.hash_secret(key_tokens.server_key(None, SECRET_KEY), prefix,
                                         secret)})
    engine.dispose()
    return urls, plaintext, domain


class Driver:
    def __init__(self, base: str, token: str, concurrency: int) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}",
                        "Content-Type": "application/scim+json"}
        self.pool = ThreadPoolExecutor(concurrency)
        self.sessions: dict[int, requests.Session] = {}

    def _session(self) -> requests.Session:
        import threading

        ident = threading.get_ident()
        if ident not in self.sessions:
            self.sessions[ident] = requests.Session()
        return self.sessions[ident]

    def call(self, method: str, path: str, body: dict) -> tuple[float, int, dict]:
        started = time.perf_counter()
        response = self._session().request(method, f"{self.base}/scim/v2{path}",
                                           data=json.dumps(body), headers=self.headers,
                                           timeout=120)
        elapsed = time.perf_counter() - started
        payload = response.json() if response.content else {}
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {payload}")
        return elapsed, response.status_code, payload

    def run(self, calls: list[tuple[str, str, dict]]) -> tuple[float, list]:
        started = time.perf_counter()
        results = list(self.pool.map(lambda c: self.call(*c), calls))
        return time.perf_counter() - started, results


def summary(name: str, wall: float, results: list) -> dict:
    times = sorted(r[0] for r in results)
    return {"step": name, "requests": len(results), "seconds": round(wall, 1),
            "per_second": round(len(results) / wall, 1),
            "p50_ms": round(statistics.median(times) * 1000, 1),
            "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    urls, token, domain = prepare()
    settings = Gunicorn()
    env = {"DATABASE_URL": urls.runtime, "MIGRATION_DATABASE_URL": urls.owner,
           "SECRET_KEY": SECRET_KEY, "INSTANCE_PATH": str(OUT / "bench-scim-instance"),
           "DB_POOL_SIZE": str(settings.threads + 1), "SCIM_RATE_LIMIT": "100000000/minute"}
    env.pop("REDIS_URL", None)
    rows = []
    with serve("wsgi:app", settings, env, ready_path="/scim/v2/ServiceProviderConfig",
               name="bench-scim") as (base, _):
        driver = Driver(base, token, args.concurrency)
        users = [("POST", "/Users", {
            "schemas": [USER], "userName": f"person{i:05d}@{domain}", "active": True,
            "externalId": f"ext-{i}", "name": {"givenName": "Person", "familyName": f"{i:05d}"},
            "emails": [{"type": "work", "primary": True, "value": f"person{i:05d}@{domain}"}],
        }) for i in range(args.users)]
        wall_users, created = driver.run(users)
        rows.append(summary(f"POST /Users x {args.users}", wall_users, created))
        ids = [r[2]["id"] for r in created]
        share = max(1, len(ids) // max(1, args.groups))
        groups = [("POST", "/Groups", {
            "schemas": [GROUP], "displayName": f"Group {g:02d}", "externalId": f"grp-{g}",
            "members": [{"value": m} for m in ids[g * share:(g + 1) * share][:1000]],
        }) for g in range(args.groups)]
        wall_groups, made = driver.run(groups)
        rows.append(summary(f"POST /Groups x {args.groups} ({share} members each)",
                            wall_groups, made))
        removals = [("PATCH", f"/Groups/{r[2]['id']}", {
            "schemas": [PATCH], "Operations": [{
                "op": "remove", "path": f'members[value eq "{r[2]["members"][0]["value"]}"]'}],
        }) for r in made if r[2].get("members")]
        wall_patch, patched = driver.run(removals)
        rows.append(summary("PATCH /Groups remove one member", wall_patch, patched))
    total = wall_users + wall_groups
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": rows,
              "users_and_groups_seconds": round(total, 1),
              "settings": {**settings.describe(), "concurrency": args.concurrency,
                           "load": os.getloadavg()}}
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_scim.json").write_text(json.dumps(report, indent=2))
    print(f"{'step':48} {'requests':>8} {'seconds':>8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for row in rows:
        print(f"{row['step']:48} {row['requests']:8} {row['seconds']:8.1f} "
              f"{row['per_second']:7.1f} {row['p50_ms']:7.1f} {row['p99_ms']:7.1f}")
    print(f"{args.users} users and {args.groups} groups provisioned in {total:.1f} s "
          f"({args.concurrency} concurrent clients; gunicorn {settings.describe()}; "
          f"load average {tuple(round(x, 1) for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
