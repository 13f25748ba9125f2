"""`tenantdesk worker`: delivers events (webhooks, audit-log streams) and runs periodic jobs.

Queue: plain PostgreSQL, ``FOR UPDATE SKIP LOCKED`` with leases (see dashboard/events/), not a
queue library: the work items are already rows of tenant tables under RLS (the outbox is
written by the audit trigger in the change's transaction), and each must be handled inside
its org's RLS context. A library such as procrastinate or pgqueuer keeps its jobs in global
tables of its own, outside the gate, and would need a second copy of every event.

Each round: ``app_events_due_orgs`` (SECURITY DEFINER, ids only) names orgs with work; for
each, the worker opens the org's context through ``tenancy.scoped_session`` as a short-lived
``system`` credential (``app_events_worker_credential``), dispatches the outbox, claims due
deliveries, sends them outside any transaction and records the results. Sessions come from
the app's own session factory (``db.py``), so whatever routing the web uses applies here.

Several threads per process, and several processes, share the work safely: a claim is a row
lock plus a lease; a killed worker's leases expire and the deliveries are claimed again.
Periodic jobs (what ``tenantdesk jobs run`` does) run every ``JOBS_INTERVAL_SECONDS`` in one
worker at a time (a PostgreSQL advisory lock).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid

from sqlalchemy import text

from dashboard import tenancy
from dashboard.events import deliveries, outbox, streams

try:  # ops' Prometheus seams (dashboard/ops/metrics.py)
    from dashboard.ops import metrics as ops_metrics
except ImportError:  # pragma: no cover
    ops_metrics = None

log = logging.getLogger(__name__)
JOBS_LOCK = 0x7E4A_0B5  # advisory lock key of the periodic jobs
CREDENTIAL_REFRESH = 300.0  # seconds a worker credential is reused from the cache
PRUNE_EVERY = 3600.0  # seconds between two retention passes over one org


class Worker:
    def __init__(self, app, *, name: str | None = None) -> None:
        self.app = app
        self.factory = app.extensions["tenantdesk.db"].sessionmaker
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.settings = deliveries.Settings.from_config(
            app.config, worker=self.name, mailer=app.extensions.get("tenantdesk.mail"))
        self.poll = float(app.config.get("EVENTS_POLL_SECONDS", 0.5))
        self.stopping = threading.Event()
        self._credentials: dict[uuid.UUID, tuple[uuid.UUID, float]] = {}
        self._pruned: dict[uuid.UUID, float] = {}
        self._depth_at = 0.0
        self.retention_days = int(app.config.get("EVENTS_RETENTION_DAYS", 30))
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------ one round

    def context_for(self, org_id: uuid.UUID) -> tenancy.TenantContext | None:
        with self._lock:
            cached = self._credentials.get(org_id)
        if cached and time.monotonic() - cached[1] < CREDENTIAL_REFRESH:
            return tenancy.TenantContext(org_id=org_id, credential_id=cached[0])
        try:
            with tenancy.scoped_session(self.factory, tenancy.NOBODY) as session:
                credential = session.scalar(text("SELECT app_events_worker_credential(:o)"),
                                            {"o": org_id})
        except Exception:  # the org has no destination any more (deleted meanwhile)
            log.debug("no worker credential for %s", org_id, exc_info=True)
            return None
        with self._lock:
            self._credentials[org_id] = (credential, time.monotonic())
        return tenancy.TenantContext(org_id=org_id, credential_id=credential)

    def _prune_due(self, org_id: uuid.UUID) -> bool:
        """Once an hour per org and process: the delivery log's retention."""
        now = time.monotonic()
        with self._lock:
            last = self._pruned.get(org_id)
            if last is not None and now - last < PRUNE_EVERY:
                return False
            self._pruned[org_id] = now
        return True

    def due_orgs(self, limit: int = 100) -> list[uuid.UUID]:
        with tenancy.scoped_session(self.factory, tenancy.NOBODY) as session:
            orgs = list(session.scalars(text("SELECT org_id FROM app_events_due_orgs(:n)"),
                                        {"n": limit}))
        random.shuffle(orgs)  # no org waits behind a busy one for long
        return orgs

    def work_org(self, org_id: uuid.UUID) -> int:
        """Dispatch, claim, send and record for one org. Returns how much was done."""
        context = self.context_for(org_id)
        if context is None:
            return 0
        if self._prune_due(org_id):
            with tenancy.scoped_session(self.factory, context) as session:
                outbox.prune(session, self.retention_days)
        with tenancy.scoped_session(self.factory, context) as session:
            deliveries.relaxed_commit(session)
            done = outbox.dispatch(session, org_id)
            claims = deliveries.claim_webhooks(session, org_id, self.settings)
            stream = streams.claim_stream(session, org_id, self.settings)
            if stream is not None:
                claims.append(stream)
        if not claims:
            return done
        outcomes = [(claim, deliveries.send(claim, self.settings)) for claim in claims]
        for claim, outcome in outcomes:
            _observe(claim, outcome)
        # One transaction records the whole batch (a lost record only means a re-send).
        with tenancy.scoped_session(self.factory, context) as session:
            deliveries.relaxed_commit(session)
            for claim, outcome in outcomes:
                deliveries.record(session, claim, outcome, self.settings)
        return done + len(claims)

    def run_once(self) -> int:
        done = 0
        for org_id in self.due_orgs():
            if self.stopping.is_set():
                break
            try:
                done += self.work_org(org_id)
            except Exception:
                log.exception("events: org %s failed this round", org_id)
        return done

    # ------------------------------------------------------------------------- running

    def _report_depth(self) -> None:
        """Set ops' QUEUE_DEPTH gauge at most every 5 seconds (one thread does it)."""
        now = time.monotonic()
        with self._lock:
            if ops_metrics is None or now - self._depth_at < 5.0:
                return
            self._depth_at = now
        try:
            figures = queue_metrics(self.app)
            ops_metrics.QUEUE_DEPTH.set(figures["events_outbox_undispatched"]
                                        + figures["events_deliveries_pending"])
        except Exception:
            log.debug("queue depth not reported", exc_info=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self._report_depth()
            try:
                done = self.run_once()
            except Exception:
                log.exception("events: round failed")
                done = 0
            if not done:
                self.stopping.wait(self.poll)

    def start(self, threads: int = 1, jobs: bool = True) -> list[threading.Thread]:
        started = []
        for n in range(max(1, threads)):
            thread = threading.Thread(target=self._loop, name=f"events-{n}", daemon=True)
            thread.start()
            started.append(thread)
        if jobs:
            thread = threading.Thread(target=self._jobs_loop, name="jobs", daemon=True)
            thread.start()
            started.append(thread)
        return started

    def stop(self, threads: list[threading.Thread], timeout: float = 15.0) -> None:
        self.stopping.set()
        for thread in threads:
            thread.join(timeout)

    def _jobs_loop(self) -> None:
        interval = float(self.app.config.get("JOBS_INTERVAL_SECONDS", 3600))
        if interval <= 0:
            return  # periodic jobs switched off (cron runs `tenantdesk jobs run` instead)
        while not self.stopping.wait(min(5.0, interval)):
            if self._jobs_due(interval):
                try:
                    run_periodic_jobs(self.app, log.info, lock=True)
                except Exception:
                    log.exception("periodic jobs failed")

    _last_jobs = 0.0

    def _jobs_due(self, interval: float) -> bool:
        now = time.monotonic()
        if self._last_jobs and now - self._last_jobs < interval:
            return False
        self._last_jobs = now
        return True


def _observe(claim, outcome) -> None:
    """Commit -> answer of one delivery, for ops' DELIVERY_SECONDS histogram."""
    if ops_metrics is None or claim.emitted_at is None:
        return
    seconds = max(0.0, outcome.started_at.timestamp() + outcome.latency_ms / 1000
                  - claim.emitted_at.timestamp())
    ops_metrics.DELIVERY_SECONDS.labels(
        outcome="delivered" if outcome.ok else "failed").observe(seconds)


def run_periodic_jobs(app, echo=print, *, lock: bool = False) -> bool:
    """Purge orgs past their deletion grace period, forget old provisioning responses.
    With ``lock``, skip (False) while another worker runs them."""
    from pathlib import Path

    from dashboard.lifecycle import service
    from dashboard.partner.service import forget_old_provision_responses

    database = app.extensions["tenantdesk.db"]
    # A transaction-level lock, held on its own connection while the jobs run: it also works
    # behind PgBouncer in transaction pooling mode (a session-level lock would not).
    with database.engine.begin() as conn:
        if lock and not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                     {"k": JOBS_LOCK}).scalar():
            return False
        export_dir = Path(app.config["INSTANCE_PATH"]) / "exports"
        reports = service.purge_due(database.sessionmaker, export_dir)
        for report in reports:
            echo(f"purged {report.slug} ({report.org_id}); export sha256 {report.export_sha256}")
        echo(f"{len(reports)} organization(s) purged.")
        with tenancy.scoped_session(database.sessionmaker, tenancy.NOBODY) as session:
            forgotten = forget_old_provision_responses(session)
        echo(f"{forgotten} stored provisioning response(s) forgotten.")
        from dashboard.sso import expiry

        echo(f"{expiry.run_job(app)} certificate expiry mail(s) sent.")
        from dashboard.trust import jobs as trust_jobs

        trust_jobs.run_due(app, echo, app.config.get("SELFTEST_INTERVAL_SECONDS", 3600))
    return True


def queue_metrics(app) -> dict[str, float]:
    """Figures for /metrics (ops): queue depth and delivery latency, no tenant data.

    ``events_outbox_undispatched``, ``events_deliveries_pending``, ``events_deliveries_due``,
    ``events_oldest_due_seconds`` (how late the most overdue delivery is), and over the last
    five minutes ``events_attempts_5m``, ``events_latency_p50_ms``, ``events_latency_p95_ms``.
    """
    factory = app.extensions["tenantdesk.db"].sessionmaker
    with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
        row = session.execute(text("SELECT * FROM app_events_queue_stats()")).one()
    return {
        "events_outbox_undispatched": float(row.undispatched),
        "events_deliveries_pending": float(row.pending),
        "events_deliveries_due": float(row.due),
        "events_oldest_due_seconds": float(row.oldest_due_seconds or 0),
        "events_attempts_5m": float(row.attempts_5m),
        "events_latency_p50_ms": float(row.latency_p50_ms or 0),
        "events_latency_p95_ms": float(row.latency_p95_ms or 0),
    }
