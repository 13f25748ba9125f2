"""Server time and SQL statement count of the members page for a 5,000-member org (not a test).

    .venv/bin/python bench/bench_members.py                     # 5,000 members, 300 requests
    .venv/bin/python bench/bench_members.py --members 20000 --iterations 500

Creates (once; reused afterwards) the database ``tenantdesk_bench_members`` on the server
bench/seed.py picks (BENCH_DATABASE_URL, DATABASE_URL, else the embedded PostgreSQL under
bench/out) with one org of N members (plus some noise orgs), runs the real app in this
process as the runtime role (RLS on) and drives it with Flask's test client. A WSGI wrapper
times each request from the call into the app until its body is produced and its transaction
committed; a ``before_cursor_execute`` listener counts the SQL statements of each request.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timed import Timed, percentile  # noqa: E402

DATABASE = "tenantdesk_bench_members"
SLUG = "bench-members"
OWNER = "owner@bench-members.example"
PASSWORD = "bench members password"  # noqa: S105 - a throwaway benchmark account

FIRST = ["Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kemi", "Liam", "Maya", "Nils", "Olu", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
LAST = ["Anderson", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
        "Johnson", "Kowalski", "Larsen", "Morgan", "Novak", "Okafor", "Petrov", "Quist",
        "Rossi", "Smith", "Tanaka", "Urban", "Vogel", "Wilson", "Xu", "Young", "Zhang"]
ROLES = ["member"] * 80 + ["admin"] * 5 + ["guest"] * 15


def seed(admin: str, members: int, others: int) -> None:
    """One org with ``members`` members, ``others`` people elsewhere (ten noise orgs), once."""
    import psycopg

    from dashboard import migrate, provisioning
    from dashboard.auth.passwords import Passwords

    urls = provisioning.bootstrap(admin, DATABASE)
    migrate.upgrade(urls.owner)
    with psycopg.connect(provisioning.libpq_url(urls.admin)) as conn:
        have = conn.execute(
            "SELECT count(*) FROM memberships m JOIN organizations o ON o.id = m.org_id"
            " WHERE o.slug = %s", (SLUG,)).fetchone()[0]
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        if have == members + 1 and users == members + others + 1:
            print(f"  {DATABASE}: reusing {have:,} memberships of {SLUG}, {users:,} users")
            return
        print(f"  {DATABASE}: seeding {members:,} members into {SLUG} ...", flush=True)
        conn.execute("TRUNCATE organizations, users CASCADE")
        password_hash = Passwords().hash(PASSWORD)
        org_id = conn.execute(
            "INSERT INTO organizations (slug, name, plan)"
            " VALUES (%s, 'Bench Members', 'enterprise') RETURNING id", (SLUG,)).fetchone()[0]
        owner = conn.execute(
            "INSERT INTO users (email, name, password_hash) VALUES (%s, 'Owen Owner', %s)"
            " RETURNING id", (OWNER, password_hash)).fetchone()[0]
        conn.execute("INSERT INTO memberships (org_id, user_id, role) VALUES (%s, %s, 'owner')",
                     (org_id, owner))
        conn.execute("UPDATE users SET last_org_id = %s WHERE id = %s", (org_id, owner))
        with conn.cursor().copy(
            "COPY users (id, email, name, password_hash) FROM STDIN"
        ) as copy:
            ids = []
            for i in range(members):
                uid = f"{secrets.token_hex(4)}-0000-4000-8000-{i:012d}"
                ids.append(uid)
                name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"
                copy.write_row((uid, f"person{i}@bench-members.example", name, None))
        with conn.cursor().copy("COPY users (email, name) FROM STDIN") as copy:
            for i in range(others):  # the rest of the installation: users is a global table
                copy.write_row((f"other{i}@elsewhere.example",
                                f"{FIRST[(i + 7) % len(FIRST)]} {LAST[(i // 7) % len(LAST)]}"))
        with conn.cursor().copy(
            "COPY memberships (org_id, user_id, role, created_at, last_active_at) FROM STDIN"
        ) as copy:
            for i, uid in enumerate(ids):
                copy.write_row((org_id, uid, ROLES[i % len(ROLES)],
                                "2025-01-01T00:00:00Z", None if i % 3 else "2025-06-01T00:00:00Z"))
        for n in range(10):  # other tenants sharing the tables, as in real life
            other = conn.execute(
                "INSERT INTO organizations (slug, name) VALUES (%s, %s) RETURNING id",
                (f"noise-{n}", f"Noise {n}")).fetchone()[0]
            conn.execute(
                "INSERT INTO memberships (org_id, user_id, role)"
                " SELECT %s, id, 'member' FROM users WHERE email LIKE 'other%%'"
                " ORDER BY id LIMIT 200 OFFSET %s", (other, n * 200))
        conn.commit()
        conn.execute("ANALYZE")


def measure(urls, iterations: int, warmup: int, slug: str = SLUG, email: str = OWNER,
            password: str = PASSWORD) -> list[dict]:
    from sqlalchemy import event

    from dashboard import create_app

    app = create_app({
        "DATABASE_URLS": urls, "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-members-"),
        "SECRET_KEY": secrets.token_hex(32), "DB_POOL_SIZE": 4,
    })
    timer = Timed(app.wsgi_app)
    app.wsgi_app = timer
    statements = []
    engine = app.extensions["tenantdesk.db"].engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    client = app.test_client()
    try:
        import re

        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
        signed = client.post("/login", data={"csrf_token": token, "email": email,
                                             "password": password})
        if signed.status_code != 302:
            raise RuntimeError(f"bench login failed: {signed.status_code}")
        # The first visit of another org than the login's last one goes through the switch.
        client.get(f"/o/{slug}/", follow_redirects=True)
        base = f"/o/{slug}/members?per_page=50"
        cases = [
            ("first page, no search", base),
            ("search 'ada' (page 1)", base + "&q=ada"),
            ("search 'ada' + role=member", base + "&q=ada&role=member"),
            ("search 'chen', htmx fragment", base + "&q=chen"),
            ("last page, no search", base + "&page=100"),
        ]
        results = []
        for name, path in cases:
            headers = {"HX-Request": "true", "HX-Target": "members-list"} if "htmx" in name else {}
            for _ in range(warmup):
                got = client.get(path, headers=headers)
                assert got.status_code == 200, (path, got.status_code, got.headers.get("Location"))
            timer.samples.clear()
            counts = []
            for _ in range(iterations):
                statements.clear()
                response = client.get(path, headers=headers)
                counts.append(len(statements))
                assert response.status_code == 200
            rows = response.get_data(as_text=True).count('data-testid="member-row"')
            ms = [s * 1000 for s in timer.samples]
            results.append({
                "case": name, "rows": rows, "p50": percentile(ms, 50), "p99": percentile(ms, 99),
                "mean": statistics.fmean(ms), "queries": sorted(set(counts)),
            })
        return results
    finally:
        app.extensions["tenantdesk.db"].dispose()


def print_table(results: list[dict]) -> None:
    print(f"{'case':<32} {'rows':>4} {'p50':>7} {'p99':>7} {'mean':>7}  queries/request")
    for r in results:
        print(f"{r['case']:<32} {r['rows']:>4} {r['p50']:>7.2f} {r['p99']:>7.2f}"
              f" {r['mean']:>7.2f}  {', '.join(map(str, r['queries']))}")


def run(ctx) -> dict:
    """`make bench` hook: the same cases on the served dataset's big org (5,000 members;
    its login 0 is the owner; its people's names include "Ada" and "Chen")."""
    results = measure(ctx.urls, 200, 20, slug=ctx.dataset.big_org["slug"],
                      email=ctx.dataset.logins[0], password=ctx.dataset.password)
    print_table(results)
    return {r["case"]: {k: v for k, v in r.items() if k != "case"} for r in results}


def main(argv: list[str] | None = None) -> int:
    import seed as bench_seed

    from dashboard import provisioning

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--others", type=int, default=195000,
                        help="people outside the org (the users table is installation-wide)")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    admin, source = bench_seed.admin_url()
    print(f"Database {DATABASE} on {source}", flush=True)
    seed(admin, args.members, args.others)
    results = measure(provisioning.bootstrap(admin, DATABASE), args.iterations, args.warmup)
    print(f"\nMembers page, {args.members:,} members ({args.others:,} other users), page size 50,"
          f" {args.iterations} requests each (server time, ms)")
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
