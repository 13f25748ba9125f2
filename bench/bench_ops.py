"""The CPU cost of metrics and JSON logging per request, on vs off, in one run (not a test).

    .venv/bin/python bench/bench_ops.py                       # 2,000 requests per case
    .venv/bin/python bench/bench_ops.py --requests 5000 --rounds 5

Starts a throwaway embedded PostgreSQL (or uses BENCH_DATABASE_URL, an admin URL), migrates
a fresh database, signs one owner in and runs two copies of the real app in this process
with Flask's test client: "off" (METRICS_ENABLED=0, the request log line below the log
level) and "on" (Prometheus metrics on, LOG_FORMAT=json, each request's line formatted and
written to /dev/null). Rounds alternate off/on so a busy machine disturbs both alike. The
figure is this process's CPU time (time.process_time: app only, PostgreSQL apart) per
request, for /healthz (no database: the overhead at its most visible) and the org home page.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "bench-ops-password-1"  # noqa: S105 - the throwaway bench user's


def _database():
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from dashboard import migrate, provisioning

    admin = os.environ.get("BENCH_DATABASE_URL")
    if not admin:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            admin = provisioning.start_embedded(tempfile.mkdtemp(prefix="tenantdesk-bench-ops-"))
    name = f"tenantdesk_bench_ops_{secrets.token_hex(3)}"
    urls = provisioning.bootstrap(admin, name)
    migrate.upgrade(urls.owner)
    engine = create_engine(urls.admin)
    return admin, name, urls, engine, sessionmaker(engine, expire_on_commit=False)


def _app(urls, instance, **config):
    from dashboard import create_app

    return create_app({
        "DATABASE_URLS": urls, "INSTANCE_PATH": str(instance), "SECRET_KEY": "b" * 40,
        "TOKEN_KEY_SECRET": "bench-ops-token-key", "LOGIN_RATE_LIMIT": "100000/minute",
        **config,
    })


def _signed_in(app, email):
    client = app.test_client()
    token = _CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    landed = client.post("/login", data={"csrf_token": token, "email": email,
                                         "password": PASSWORD})
    assert landed.status_code in (302, 303), landed.status_code
    return client


def _logging(on: bool) -> None:
    from dashboard.ops import logs

    logs.configure({"LOG_FORMAT": "json" if on else "text",
                    "LOG_LEVEL": "INFO" if on else "WARNING"})


def _cpu_per_request(client, path: str, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        response.close()
    return (time.process_time() - started) / requests * 1e6  # microseconds


BLOCK = 50


def _ops_work_alone(app, calls: int) -> dict[str, float]:
    """CPU per call of what the ops hooks add at the end of a request (metrics sample, JSON
    log line formatted and written to /dev/null), without the rest of the request."""
    from flask import g

    from dashboard import tenancy
    from dashboard.ops import logs, metrics

    g.request_id = "0" * 32
    g.tenant_context = tenancy.TenantContext(user_id="6f1c2a4e-0000-4000-8000-000000000001",
                                             org_id="6f1c2a4e-0000-4000-8000-000000000002")
    response = app.response_class("ok", status=200)
    figures = {}
    for name, on in (("metrics", True), ("json log line", True), ("log line below level", False)):
        _logging(on)
        started = time.process_time()
        for _ in range(calls):
            if name == "metrics":
                metrics.observe(response, 0.004)
            else:
                logs.log_request(response, 0.004)
        figures[name] = (time.process_time() - started) / calls * 1e6
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from dashboard import provisioning
    from tests import factories

    admin, name, urls, engine, sessions = _database()
    instance = Path(tempfile.mkdtemp(prefix="tenantdesk-bench-ops-instance-"))
    off = _app(urls, instance / "off", METRICS_ENABLED=False)
    on = _app(urls, instance / "on", METRICS_ENABLED=True)
    factories.bind(sessions, off.extensions["tenantdesk.passwords"].hash(PASSWORD))
    org, people = factories.org_with_members(owner="owner")
    clients = {"off": _signed_in(off, people["owner"].email),
               "on": _signed_in(on, people["owner"].email)}
    real_stderr = sys.stderr
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the log handler writes here
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for path in ("/healthz", f"/o/{org.slug}/"):
            for case in ("off", "on"):  # warm-up
                _logging(case == "on")
                _cpu_per_request(clients[case], path, 200)
            for _ in range(args.rounds):
                # Short alternating blocks: a neighbour's load hits both cases alike.
                spent = {"off": [], "on": []}
                for _ in range(args.requests // BLOCK):
                    for case in ("off", "on"):
                        _logging(case == "on")
                        spent[case].append(_cpu_per_request(clients[case], path, BLOCK))
                for case in ("off", "on"):
                    results.setdefault((path, case), []).append(statistics.fmean(spent[case]))
        with on.test_request_context(f"/o/{org.slug}/"):
            work = _ops_work_alone(on, args.requests * 5)
    finally:
        sys.stderr.close()
        sys.stderr = real_stderr
        logging.getLogger().setLevel(logging.WARNING)
        for app in (off, on):
            app.extensions["tenantdesk.db"].dispose()
        factories.session().close()
        engine.dispose()
        provisioning.drop_database(admin, name)

    print(f"CPU per request in this process (µs), median of {args.rounds} rounds of "
          f"{args.requests} requests (alternating blocks of {BLOCK}), metrics + JSON log "
          "line off vs on:")
    for path in ("/healthz", "/o/<slug>/ (org home)"):
        key = "/healthz" if path == "/healthz" else f"/o/{org.slug}/"
        cost_off = statistics.median(results[(key, "off")])
        cost_on = statistics.median(results[(key, "on")])
        print(f"  {path:<24} off {cost_off:8.0f}   on {cost_on:8.0f}   "
              f"+{cost_on - cost_off:6.0f} µs ({(cost_on / cost_off - 1) * 100:+.1f} %)")
    print("The ops work alone, CPU per request (µs): " + ", ".join(
        f"{name} {cost:.1f}" for name, cost in work.items()))


if __name__ == "__main__":
    main()
