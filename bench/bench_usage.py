"""Usage metering at scale: the 365-day chart data of one org, and batched ingestion.

Standalone (seeds or reuses a scratch database through bench/seed.py's COPY loader):
    .venv/bin/python bench/bench_usage.py                    # 10,000 orgs, 10 M usage events
    .venv/bin/python bench/bench_usage.py --orgs 1000 --events 1000000
Inside `make bench` (run(ctx)): the same figures on the seeded 10,000-org database, plus the
chart data endpoint under wrk on the served gunicorn.

Measured, each in-process against PostgreSQL through the runtime role and the RLS gate:

1. chart data query: the rollup rows of 365 days + the previous 365 days of every metric for
   one org (the query behind the page, the CSV and data.json), p50/p99 per query;
2. the whole report (entitlements + rollups + figures) and the data.json / HTML page requests
   through the Flask app (server time: no network, no client), p50/p99;
3. batched ingestion: record_batch with 1,000-event batches (new keys) on one and on two
   sessions in parallel, the same batches again (pure retries), and through the HTTP endpoint
   (JSON parsing and validation included): events/s.

Writes made by the ingestion runs are deleted afterwards (as the owner of the data set), so
the seeded database stays as it was.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import seed  # noqa: E402

from dashboard import provisioning, tenancy  # noqa: E402
from dashboard.usage import reports, service  # noqa: E402
from dashboard.usage.metrics import METRICS  # noqa: E402

DATABASE = "tenantdesk_bench_usage"
BATCH = 1000
INGEST_ORGS = 4
MAX_BATCHES_PER_SECOND = 40  # per session: 40,000 events/s, above what one session reaches here
INGEST_PLAN = "growth"  # soft quotas: the quota check runs on every batch, nothing is refused
CHART_SQL = text(
    """
    SELECT metric, day, total FROM usage_daily
     WHERE org_id = :org_id AND metric = ANY(CAST(:metrics AS text[]))
       AND day BETWEEN :since AND :until
     ORDER BY metric, day
    """
)


def log(message: str) -> None:
    print(message, flush=True)


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "n": len(ordered),
    }


# ---------------------------------------------------------------------------- the data set


def owner_of(admin_url: str, org_id: str) -> str:
    with psycopg.connect(admin_url) as conn:
        return str(conn.execute(
            "SELECT user_id FROM memberships WHERE org_id = %s AND role = 'owner' LIMIT 1",
            (org_id,)).fetchone()[0])


def typical_org(admin_url: str) -> tuple[str, str, int]:
    """An org with a median number of rollup rows: (id, slug, rows). Only orgs whose plan is
    in the catalogue (the seeder also writes plans the catalogue does not have) and includes
    the 365-day history the chart reads ask for (else the report refuses, as it should)."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            """
            WITH per_org AS (
              SELECT d.org_id, count(*) AS n FROM usage_daily d
                JOIN organizations o ON o.id = d.org_id
                JOIN plan_features f ON f.plan = o.plan AND f.feature = 'advanced-analytics'
               GROUP BY d.org_id)
            SELECT p.org_id, o.slug, p.n FROM per_org p JOIN organizations o ON o.id = p.org_id
             ORDER BY p.n OFFSET (SELECT count(*) / 2 FROM per_org) LIMIT 1
            """
        ).fetchone()
    return str(row[0]), row[1], row[2]


def ingest_orgs(admin_url: str, owner_id: str) -> list[str]:
    """Orgs for the ingestion runs (created once, kept; their usage is deleted after)."""
    ids = []
    with psycopg.connect(admin_url) as conn:
        for i in range(INGEST_ORGS):
            slug = f"bench-ingest-{i}"
            conn.execute(
                "INSERT INTO organizations (slug, name, plan) VALUES (%s, %s, %s)"
                " ON CONFLICT (slug) DO UPDATE SET plan = EXCLUDED.plan",
                (slug, f"Bench ingest {i}", INGEST_PLAN))
            org_id = conn.execute("SELECT id FROM organizations WHERE slug = %s",
                                  (slug,)).fetchone()[0]
            conn.execute(
                "INSERT INTO memberships (org_id, user_id, role) VALUES (%s, %s, 'owner')"
                " ON CONFLICT DO NOTHING", (org_id, owner_id))
            ids.append(str(org_id))
    return ids


def forget_ingested(admin_url: str, org_ids: list[str]) -> None:
    with psycopg.connect(admin_url) as conn:
        # usage_revisions too: what is left of these orgs' rollups is never cached.
        for table in ("usage_alerts", "usage_daily", "usage_revisions", "usage_events"):
            conn.execute(f"DELETE FROM {table} WHERE org_id = ANY(%s::uuid[])", (org_ids,))


# ---------------------------------------------------------------------------- chart reads


def chart_reads(runtime_url: str, user_id: str, org_id: str, iterations: int) -> dict:
    """The chart data query, and the whole report, each in a fresh RLS transaction."""
    engine = create_engine(runtime_url, pool_size=1)
    factory = sessionmaker(engine)
    context = tenancy.TenantContext(user_id=uuid.UUID(user_id), org_id=uuid.UUID(org_id))
    today = datetime.now(UTC).date()
    params = {"org_id": org_id, "metrics": list(METRICS),
              "since": today - timedelta(days=729), "until": today}
    query, report, rows = [], [], 0
    try:
        for i in range(iterations * 2):
            with tenancy.scoped_session(factory, context) as session:
                session.execute(text("SELECT 1"))  # the transaction's RLS context statement
                start = time.perf_counter()
                if i % 2:
                    reports.usage_report(session, uuid.UUID(org_id), 365)
                    report.append(time.perf_counter() - start)
                else:
                    rows = len(session.execute(CHART_SQL, params).all())
                    query.append(time.perf_counter() - start)
    finally:
        engine.dispose()
    return {"rollup_rows_read": rows, "query": percentiles(query),
            "report_incl_entitlements": percentiles(report)}


def tagged_reads(runtime_url: str, user_id: str, org_id: str, iterations: int) -> dict:
    """The 30-day report of one org filtered by one metadata value (``tenant_id = t-7``, one
    event in 100 of the ingestion run), which reads raw events through the metadata index."""
    engine = create_engine(runtime_url, pool_size=1)
    factory = sessionmaker(engine)
    context = tenancy.TenantContext(user_id=uuid.UUID(user_id), org_id=uuid.UUID(org_id))
    samples = []
    try:
        with tenancy.scoped_session(factory, context) as session:
            events = session.execute(text(
                "SELECT count(*) FROM usage_event_metadata WHERE org_id = :o"
                " AND key = 'tenant_id' AND value = 't-7'"), {"o": org_id}).scalar_one()
        for _ in range(iterations):
            with tenancy.scoped_session(factory, context) as session:
                session.execute(text("SELECT 1"))
                start = time.perf_counter()
                reports.usage_report(session, uuid.UUID(org_id), 30,
                                     metadata=("tenant_id", "t-7"))
                samples.append(time.perf_counter() - start)
    finally:
        engine.dispose()
    return {"events": events, "report": percentiles(samples)}


def plan_of(admin_url: str, org_id: str) -> str:
    with psycopg.connect(admin_url) as conn:
        return conn.execute("SELECT plan FROM organizations WHERE id = %s",
                            (org_id,)).fetchone()[0]


# ---------------------------------------------------------------------------- ingestion


def _batches(n: int, tag: str, metadata: bool = False) -> list[list[service.EventIn]]:
    now = datetime.now(UTC)
    names = list(METRICS)
    out = []
    for b in range(n):
        out.append([
            service.EventIn(names[i % 4], 1 + i % 50,
                            now - timedelta(days=i % 28, seconds=i), f"{tag}-{b}-{i}",
                            # Two keys per event, as a "Pattern B" caller would send them.
                            {"tenant_id": f"t-{i % 100}", "region": "eu"} if metadata
                            else None)
            for i in range(BATCH)
        ])
    return out


def ingest(runtime_url: str, user_id: str, org_ids: list[str], workers: int,
           seconds: float, metadata: bool = False) -> dict:
    """Batches of 1,000 new events per transaction; each worker its own session and org
    (workers share nothing but the tables); then the same batches again (retries). With
    ``metadata``, every event carries two metadata keys."""
    engine = create_engine(runtime_url, pool_size=workers)
    factory = sessionmaker(engine)
    tag = secrets.token_hex(4)
    sent: list[list] = [[] for _ in range(workers)]
    counts = [0] * workers
    errors: list[BaseException] = []

    # Batches are built before the clock starts: the figure is the server's, not the client's.
    ready = [_batches(int(seconds * MAX_BATCHES_PER_SECOND), f"{tag}-{w}", metadata)
             for w in range(workers)]
    gc.collect()
    gc.freeze()  # the prepared batches are not the collector's business while timing

    def work(w: int, deadline: float, replay: bool) -> None:
        org = uuid.UUID(org_ids[w % len(org_ids)])
        context = tenancy.TenantContext(user_id=uuid.UUID(user_id), org_id=org)
        def send(batch) -> None:
            with tenancy.scoped_session(factory, context) as session:
                result = service.record_batch(session, org, batch)
            counts[w] += result.accepted + result.duplicates

        try:
            if replay:
                for batch in sent[w]:
                    send(batch)
                return
            for batch in ready[w]:
                if time.perf_counter() >= deadline:
                    break
                sent[w].append(batch)
                send(batch)
        except BaseException as exc:
            errors.append(exc)

    def run(replay: bool) -> tuple[int, float]:
        counts[:] = [0] * workers
        start = time.perf_counter()
        threads = [threading.Thread(target=work, args=(w, start + seconds, replay))
                   for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts), time.perf_counter() - start

    try:
        new, new_s = run(False)
        again, again_s = run(True)
    finally:
        engine.dispose()
        gc.unfreeze()
    if errors:
        raise errors[0]
    return {"workers": workers, "batch": BATCH,
            "new_events_per_s": round(new / new_s), "new_events": new,
            "retried_events_per_s": round(again / again_s), "retried_events": again}


# ---------------------------------------------------------------------------- HTTP (in-process)


def http_figures(urls: provisioning.DatabaseUrls, dataset: seed.Dataset, slug: str,
                 ingest_slug: str, iterations: int, seconds: float) -> dict:
    """Server time of data.json and the HTML page, and events/s through the API endpoint,
    with Flask's test client (no network, no HTTP client in the figure)."""
    from dashboard import create_app

    app = create_app({"DATABASE_URLS": urls, "DB_POOL_SIZE": 2, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-usage-")})
    client = app.test_client()
    try:
        form = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        client.post("/login", data={"csrf_token": csrf, "email": dataset.logins[0],
                                    "password": dataset.password})
        out = {}
        for key, path, n in (("data_json_365", f"/o/{slug}/usage/data.json?range=365",
                              iterations),
                             ("page_365_html", f"/o/{slug}/usage?range=365", iterations // 5)):
            client.get(path)  # through the org switch once, warm
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                response = client.get(path)
                samples.append(time.perf_counter() - start)
                assert response.status_code == 200, (path, response.status_code)
            out[key] = percentiles(samples)
        client.get(f"/o/{ingest_slug}/usage")  # switch to an ingestion org
        token = re.search(r'"X-CSRFToken": "([^"]+)"',
                          client.get(f"/o/{ingest_slug}/usage").get_data(as_text=True)).group(1)
        events, tag, start = 0, secrets.token_hex(4), time.perf_counter()
        while time.perf_counter() - start < seconds:
            now = datetime.now(UTC)
            body = {"events": [
                {"metric": "api_calls", "quantity": 1 + i % 9,
                 "timestamp": (now - timedelta(minutes=i % 600)).isoformat(),
                 "idempotency_key": f"http-{tag}-{events + i}"} for i in range(BATCH)]}
            response = client.post("/api/v1/usage/events", data=json.dumps(body),
                                   content_type="application/json",
                                   headers={"X-CSRFToken": token})
            assert response.status_code == 200, response.get_json()
            events += BATCH
        out["http_ingest_events_per_s"] = round(events / (time.perf_counter() - start))
        return out
    finally:
        app.extensions["tenantdesk.db"].dispose()


# ---------------------------------------------------------------------------- reporting


def measure(urls: provisioning.DatabaseUrls, dataset: seed.Dataset, *, iterations: int,
            seconds: float, http: bool = True) -> dict:
    admin = provisioning.libpq_url(urls.admin)
    big = dataset.big_org
    owner = owner_of(admin, big["id"])
    typical_id, typical_slug, typical_rows = typical_org(admin)
    with psycopg.connect(admin) as conn:
        events, rollups = (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                           for t in ("usage_events", "usage_daily"))
    results = {"events_in_database": events, "rollup_rows_in_database": rollups,
               "orgs": dataset.scale["orgs"], "load_average_before": os.getloadavg()[0]}
    log(f"  chart reads: big org ({big['slug']}) and a typical org ({typical_slug})")
    results["chart_big_org"] = chart_reads(urls.runtime, owner, big["id"], iterations)
    results["chart_typical_org"] = chart_reads(
        urls.runtime, owner_of(admin, typical_id), typical_id, iterations)
    ingest_ids = ingest_orgs(admin, owner)
    try:
        for workers in (1, 2):
            log(f"  ingestion: {workers} session(s), {seconds:.0f} s")
            results[f"ingest_{workers}_sessions"] = ingest(
                urls.runtime, owner, ingest_ids, workers, seconds)
        log(f"  ingestion with metadata (2 keys per event): 1 session, {seconds:.0f} s")
        results["ingest_1_sessions_metadata"] = ingest(
            urls.runtime, owner, ingest_ids, 1, seconds, metadata=True)
        log("  a 30-day report filtered by one metadata value (raw events)")
        results["tagged_report"] = tagged_reads(urls.runtime, owner, ingest_ids[0],
                                                iterations)
        if http:
            log("  HTTP (in-process Flask test client)")
            results["http"] = http_figures(urls, dataset, big["slug"], "bench-ingest-0",
                                           iterations, seconds)
    finally:
        forget_ingested(admin, ingest_ids)
    results["load_average_after"] = os.getloadavg()[0]
    return results


def table(results: dict) -> str:
    lines = [f"Usage metering: {results['events_in_database']:,} events, "
             f"{results['rollup_rows_in_database']:,} rollup rows, {results['orgs']:,} orgs; "
             f"load average {results['load_average_before']:.1f} -> "
             f"{results['load_average_after']:.1f} on {os.cpu_count()} cores",
             f"{'measure':<58}{'p50 ms':>10}{'p99 ms':>10}"]
    for key, label in (("chart_big_org", "big org"), ("chart_typical_org", "typical org")):
        entry = results[key]
        for part, what in (("query", "365-day chart data query"),
                           ("report_incl_entitlements", "whole report (+ entitlements)")):
            name = f"{what}, {label} ({entry['rollup_rows_read']} rows)"
            lines.append(f"{name:<58}{entry[part]['p50_ms']:>10}{entry[part]['p99_ms']:>10}")
    for key, label in (("data_json_365", "GET data.json?range=365 (server, in-process)"),
                       ("page_365_html", "GET usage page, 365 days, 4 SVG charts")):
        if key in results.get("http", {}):
            entry = results["http"][key]
            lines.append(f"{label:<58}{entry['p50_ms']:>10}{entry['p99_ms']:>10}")
    lines.append(f"{'ingestion':<58}{'events/s':>20}")
    for workers in (1, 2):
        entry = results[f"ingest_{workers}_sessions"]
        lines.append(f"{f'record_batch x{BATCH}, {workers} session(s), new events':<58}"
                     f"{entry['new_events_per_s']:>20,}")
        lines.append(f"{f'record_batch x{BATCH}, {workers} session(s), retried batches':<58}"
                     f"{entry['retried_events_per_s']:>20,}")
    if "ingest_1_sessions_metadata" in results:
        entry = results["ingest_1_sessions_metadata"]
        lines.append(f"{f'record_batch x{BATCH}, 1 session, new events, 2 metadata keys':<58}"
                     f"{entry['new_events_per_s']:>20,}")
    if "tagged_report" in results:
        entry = results["tagged_report"]
        name = f"30-day report filtered by metadata ({entry['events']} events)"
        lines.append(f"{name:<58}{entry['report']['p50_ms']:>10}{entry['report']['p99_ms']:>10}")
    if "http_ingest_events_per_s" in results.get("http", {}):
        lines.append(f"{f'POST /api/v1/usage/events x{BATCH} (in-process, 1 client)':<58}"
                     f"{results['http']['http_ingest_events_per_s']:>20,}")
    return "\n".join(lines)


def run(ctx) -> dict:
    """`make bench` hook: the figures above on the seeded database, plus wrk on data.json."""
    results = measure(ctx.urls, ctx.dataset, iterations=300, seconds=5, http=False)
    slug = ctx.dataset.big_org["slug"]
    results["wrk_data_json_365"] = ctx.wrk_get(
        f"/o/{slug}/usage/data.json?range=365", connections=1)
    log(table(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--output", default=str(BENCH / "out" / "usage.json"))
    args = parser.parse_args(argv)

    admin, source = seed.admin_url()
    log(f"PostgreSQL: {source}")
    scale = seed.Scale().scaled_to(args.orgs) if args.orgs != seed.Scale.orgs else seed.Scale()
    if args.events != scale.events:
        scale.events = args.events
        scale.big_org_events = min(scale.big_org_events, args.events // 10)
    started = time.perf_counter()
    dataset = seed.ensure_seeded(admin, args.database, scale, log=log, force=args.reseed)
    log(f"  data set ready in {time.perf_counter() - started:.0f} s "
        f"(seed timings: {dataset.seconds})")
    urls = provisioning.bootstrap(admin, args.database)
    results = measure(urls, dataset, iterations=args.iterations, seconds=args.seconds)
    results["seed_seconds"] = dataset.seconds
    print(table(results))
    Path(args.output).parent.mkdir(exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2))
    log(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
