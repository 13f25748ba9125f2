"""Server time of the org switch and of session-checked requests, in-process (not a test).

    .venv/bin/python bench/bench_switch.py                  # 1,000-org database, 500 iterations
    .venv/bin/python bench/bench_switch.py --orgs 10000 --iterations 1000

Uses the scale data of bench/seed.py (reused when already seeded) on the same server it
picks (BENCH_DATABASE_URL, DATABASE_URL, else the embedded PostgreSQL under bench/out), runs
the real app in this process as the runtime role and drives it with Flask's test client. A
WSGI wrapper times each request from the moment the app is called until its body has been
produced and its transaction committed: server time, without any network or client cost.

Measured, each after a warm-up:
- switch:        POST /switch between bench-a and bench-b (membership check, old session
                 revoked, new session row, audit row, new token) -> 303;
- org home:      GET /o/<slug>/ with the session check (session row + user + membership
                 under RLS, one query) and the page's own queries;
- access token:  POST /auth/token (session check + ES256 signature);
- api me:        GET /api/v1/me with a bearer JWT (signature, claims, session row, membership).

Also callable from bench/run.py: ``run(ctx)`` measures against its served dataset.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timed import Timed, percentile  # noqa: E402

_CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def summary(samples: list[float]) -> dict:
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def _csrf(client, path="/switcher") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    if not match:
        raise RuntimeError(f"no CSRF token on {path}")
    return match.group(1)


def measure(urls, dataset, iterations: int = 500, warmup: int = 50) -> dict:
    """Build the app on ``urls`` and time the four requests ``iterations`` times each."""
    from dashboard import create_app
    from dashboard.ratelimits import api_limiter

    instance = tempfile.mkdtemp(prefix="bench-switch-")
    app = create_app(
        {
            "DATABASE_URLS": urls,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": secrets.token_hex(32),
            "TOKEN_KEY_SECRET": "bench-switch-token-key",
            "DB_POOL_SIZE": 4,
        }
    )
    timer = Timed(app.wsgi_app)
    app.wsgi_app = timer
    client = app.test_client()
    try:
        token = _csrf(client, "/login")
        response = client.post(
            "/login",
            data={"csrf_token": token, "email": dataset.logins[0], "password": dataset.password},
        )
        if response.status_code != 302:
            raise RuntimeError(f"bench login failed: {response.status_code}")
        slug_a, slug_b = dataset.switch_slugs[:2]
        csrf = _csrf(client)
        results = {}

        def run(name, call, check):
            for _ in range(warmup):
                check(call())
            timer.samples.clear()
            for _ in range(iterations):
                check(call())
            results[name] = summary(timer.samples)

        flip = {"i": 0}

        def do_switch():
            flip["i"] += 1
            slug = slug_a if flip["i"] % 2 else slug_b
            return client.post("/switch", data={"csrf_token": csrf, "slug": slug})

        def expect(status):
            def check(response):
                if response.status_code != status:
                    raise RuntimeError(f"expected {status}, got {response.status_code}")
            return check

        run("switch (POST /switch -> new token)", do_switch, expect(303))
        client.post("/switch", data={"csrf_token": csrf, "slug": slug_a})
        run("org home (session check + page)", lambda: client.get(f"/o/{slug_a}/"),
            expect(200))
        headers = {"X-CSRFToken": csrf}
        run("access token (POST /auth/token)", lambda: client.post("/auth/token",
                                                                  headers=headers), expect(200))
        bearer = client.post("/auth/token", headers=headers).get_json()["access_token"]
        auth = {"Authorization": f"Bearer {bearer}"}
        api = app.test_client()  # no cookie: the bearer token alone
        limiter = api_limiter(app)

        def api_me():
            # The org's plan allows 60 API calls a minute; the limiter still counts each call,
            # its window is emptied so that 300 calls in a few seconds measure the call, not 429.
            limiter.reset()
            return api.get("/api/v1/me", headers=auth)

        run("api me (GET /api/v1/me, JWT)", api_me, expect(200))
        return results
    finally:
        app.extensions["tenantdesk.db"].dispose()


def table(results: dict, title: str) -> str:
    lines = [title, f"{'request':<38} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}"]
    for name, row in results.items():
        lines.append(
            f"{name:<38} {row['n']:>5} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            f" {row['mean_ms']:>8.2f}"
        )
    return "\n".join(lines)


def run(ctx) -> dict:
    """bench/run.py hook: the same measurement on the dataset it has seeded."""
    return measure(ctx.urls, ctx.dataset, iterations=300, warmup=30)


def main(argv: list[str] | None = None) -> int:
    import seed

    from dashboard import provisioning

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    os.environ.setdefault("INSTANCE_PATH", tempfile.mkdtemp(prefix="bench-switch-instance-"))
    admin, source = seed.admin_url()
    database = f"tenantdesk_bench_o{args.orgs}"
    print(f"Database {database} on {source}", flush=True)
    dataset = seed.ensure_seeded(admin, database, seed.Scale().scaled_to(args.orgs))
    urls = provisioning.bootstrap(admin, database)
    results = measure(urls, dataset, iterations=args.iterations, warmup=args.warmup)
    print()
    print(table(results, f"Server time, {args.orgs:,} orgs, {args.iterations} iterations each"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
