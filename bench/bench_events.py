"""Events: what emitting costs the request, and commit -> delivery with 1 and 2 workers.

    .venv/bin/python bench/bench_events.py                  # 2,000 events per case
    .venv/bin/python bench/bench_events.py --events 5000 --threads 4

Uses its own database ``tenantdesk_bench_events`` (created on the server bench/seed.py picks:
BENCH_DATABASE_URL, DATABASE_URL, else the embedded PostgreSQL under bench/out), migrated to
head. Not a test: prints figures.

1. Emit cost: one transaction per "request" that writes one audit row, as the runtime role in
   the org's RLS context, in an org with an enabled webhook endpoint (the trigger adds the
   outbox INSERT) and in one without (the trigger finds nothing). The difference is what an
   event adds to the request.
2. Throughput: N committed events, then 1 or 2 real `tenantdesk worker` processes (each with
   ``--threads``) deliver them to a loopback receiver answering 200; events/s from the
   workers' start until the last event arrived.
3. Latency: events committed at a steady rate while the workers run; commit -> receipt p50/p99
   (receipt wall clock minus the audit row's timestamp).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASE = "tenantdesk_bench_events"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed_org(conn, text, name: str, plan: str = "growth"):
    org = uuid.uuid4()
    user = uuid.uuid4()
    slug = f"{name}-{secrets.token_hex(3)}"
    conn.execute(text("INSERT INTO organizations (id, name, slug, plan) VALUES (:i, :n, :s, :p)"),
                 {"i": org, "n": name, "s": slug, "p": plan})
    conn.execute(text("INSERT INTO users (id, email, name, password_hash)"
                      " VALUES (:i, :e, 'Bench Owner', 'x')"),
                 {"i": user, "e": f"owner-{slug}@bench-events.example"})
    conn.execute(text("INSERT INTO memberships (org_id, user_id, role) VALUES (:o, :u, 'owner')"),
                 {"o": org, "u": user})
    conn.execute(text("INSERT INTO licenses (org_id, plan, valid_from)"
                      " VALUES (:o, :p, now() - interval '1 day')"), {"o": org, "p": plan})
    return org, user


def emit(app, org, user, n: int, per_commit: int = 1) -> list[float]:
    """``n`` audit rows, ``per_commit`` to a transaction; ms per transaction."""
    from dashboard import tenancy
    from dashboard.audit.service import Actor, record_audit

    factory = app.extensions["tenantdesk.db"].sessionmaker
    context = tenancy.TenantContext(user_id=user, org_id=org)
    timings = []
    for start in range(0, n, per_commit):
        started = time.perf_counter()
        with tenancy.scoped_session(factory, context) as session:
            for i in range(start, min(n, start + per_commit)):
                record_audit(session, org_id=org, actor=Actor(label="bench"),
                             action="member.role_change", target=f"user:{i}",
                             before={"role": "member"}, after={"role": "admin"})
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def explain_trigger(app, org, user, n: int) -> tuple[list[float], list[float]]:
    """Server-side time of the audit INSERT and of its outbox trigger, without the network."""
    from sqlalchemy import text

    from dashboard import tenancy

    factory = app.extensions["tenantdesk.db"].sessionmaker
    context = tenancy.TenantContext(user_id=user, org_id=org)
    trigger, total = [], []
    class Undo(Exception):
        pass

    for _ in range(n):
        try:
            with tenancy.scoped_session(factory, context) as session:
                (plan,) = session.execute(text(
                    "EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO audit_events (org_id, actor,"
                    " action, target) VALUES (:o, 'bench', 'member.role_change', 'user:x')"),
                    {"o": org}).scalar_one()
                raise Undo  # roll back: nothing stays
        except Undo:
            pass
        total.append(plan["Execution Time"])
        trigger.append(sum(t["Time"] for t in plan.get("Triggers", [])
                           if t["Trigger Name"] == "audit_events_to_outbox"))
    return trigger, total


def start_workers(urls, secret_key: str, count: int, threads: int, tmp: Path):
    env = {**os.environ, "DATABASE_URL": urls.runtime, "MIGRATION_DATABASE_URL": urls.owner,
           "SECRET_KEY": secret_key, "ALLOW_PRIVATE_EVENT_URLS": "1",
           "EVENTS_POLL_SECONDS": "0.05", "JOBS_INTERVAL_SECONDS": "0",
           "DB_POOL_SIZE": str(threads + 2)}
    return [subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "worker", "--threads", str(threads),
         "--no-jobs", "--name", f"bench{n}"],
        env={**env, "INSTANCE_PATH": str(tmp / f"w{n}")}, stdout=subprocess.DEVNULL,
    ) for n in range(count)]


def stop(processes) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv=None) -> int:
    import seed as bench_seed

    from dashboard import tenancy
    from dashboard.audit.service import Actor
    from dashboard.events import endpoints
    from tests.conftest import make_app
    from tests.support.receiver import Receiver

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=int, default=50, help="events/s in the latency case")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine, text

    from dashboard import migrate, provisioning

    admin, source = bench_seed.admin_url()
    print(f"Database {DATABASE} on {source}", flush=True)
    urls = provisioning.bootstrap(admin, DATABASE)
    migrate.upgrade(urls.owner)
    engine = create_engine(urls.admin or provisioning.sqlalchemy_url(admin).set(
        database=DATABASE).render_as_string(hide_password=False))
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    app = make_app(urls, tmp, DB_POOL_SIZE=4, ALLOW_PRIVATE_EVENT_URLS=True,
                   JOBS_INTERVAL_SECONDS=0)
    with engine.begin() as conn:
        hooked, hooked_owner = seed_org(conn, text, "bench-hooked")
        plain, plain_owner = seed_org(conn, text, "bench-plain")

    with Receiver() as receiver:
        path = f"/bench/{hooked}"
        factory = app.extensions["tenantdesk.db"].sessionmaker
        with tenancy.scoped_session(factory, tenancy.TenantContext(
                user_id=hooked_owner, org_id=hooked)) as session:
            endpoints.create(session, org_id=hooked, kind="webhook", url=receiver.url(path),
                             created_by=hooked_owner, actor=Actor(label="bench"),
                             secret_key=app.config["SECRET_KEY"], allow_private=True)

        # 1. emit cost
        emit(app, plain, plain_owner, 100)  # warm-up
        emit(app, hooked, hooked_owner, 100)
        without, with_hook = [], []
        for _ in range(args.events // 50):  # interleaved, so load changes hit both alike
            without += emit(app, plain, plain_owner, 50)
            with_hook += emit(app, hooked, hooked_owner, 50)
        print(f"\nEmit cost: one commit with one audit row, {args.events} each (ms)")
        print(f"{'org':<28} {'p50':>7} {'p99':>7} {'mean':>7}")
        for label, values in (("no destination", without), ("webhook endpoint", with_hook)):
            print(f"{label:<28} {percentile(values, .5):>7.2f} {percentile(values, .99):>7.2f}"
                  f" {statistics.mean(values):>7.2f}")
        print(f"added by the outbox row (p50): "
              f"{percentile(with_hook, .5) - percentile(without, .5):.2f} ms")
        trigger, insert = explain_trigger(app, hooked, hooked_owner, 300)
        print(f"inside PostgreSQL (EXPLAIN ANALYZE, 300 rolled-back inserts, p50): audit INSERT"
              f" {percentile(insert, .5):.3f} ms, of which the outbox trigger"
              f" {percentile(trigger, .5):.3f} ms")

        # drain what the emit case queued before measuring throughput
        workers = start_workers(urls, app.config["SECRET_KEY"], 2, args.threads, tmp)
        receiver.wait_for(path, args.events + 100, timeout=600)
        stop(workers)

        # 2. throughput, 3. latency
        print(f"\nCommit -> delivery, {args.threads} threads per worker, receiver answers 200")
        print(f"{'workers':<8} {'events':>7} {'events/s':>9} {'lat p50 ms':>11} {'p99 ms':>8}")
        for count in (1, 2):
            workers = start_workers(urls, app.config["SECRET_KEY"], count, args.threads, tmp)
            time.sleep(4)  # started and idle
            before = len(receiver.at(path))
            emit(app, hooked, hooked_owner, args.events, per_commit=100)
            started = time.monotonic()  # the backlog is committed
            receiver.wait_for(path, before + args.events, timeout=600)
            rate = args.events / (time.monotonic() - started)
            # steady load: commit at --rate per second while the workers run
            mark = len(receiver.at(path))
            total = args.rate * args.seconds
            for _ in range(args.seconds * 10):
                tick = time.monotonic()
                emit(app, hooked, hooked_owner, max(1, args.rate // 10))
                time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
            got = receiver.wait_for(path, mark + total, timeout=300)[mark:]
            stop(workers)
            latencies = [
                (r.wall - datetime.fromisoformat(json.loads(r.body)["timestamp"]).timestamp())
                * 1000 for r in got]
            print(f"{count:<8} {args.events:>7} {rate:>9.0f} {percentile(latencies, .5):>11.0f}"
                  f" {percentile(latencies, .99):>8.0f}")
    app.extensions["tenantdesk.db"].dispose()
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
