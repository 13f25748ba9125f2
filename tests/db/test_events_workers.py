"""Several real `tenantdesk worker` processes share the queue; one is killed mid-delivery.
Every event arrives, and no attempt is in the delivery log twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests import factories
from tests.helpers import login
from tests.support.events import audit_in, make_endpoint, org_on

EVENTS = 30


def start_worker(app, database_urls, tmp_path, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_urls.runtime,
        "MIGRATION_DATABASE_URL": database_urls.owner,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path / name),
        "ALLOW_PRIVATE_EVENT_URLS": "1",
        "EVENTS_LEASE_SECONDS": "2",
        "EVENTS_POLL_SECONDS": "0.05",
        "EVENTS_RETRY_SCALE": "0.01",
        "EVENTS_HTTP_TIMEOUT": "2",
        "DB_POOL_SIZE": "4",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "worker", "--threads", "2", "--no-jobs",
         "--name", name],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_two_workers_and_a_killed_one_deliver_everything_once_in_the_log(
        app, database_urls, receiver, tmp_path):
    org, people = org_on()
    client = app.test_client()
    login(client, people["owner"])
    path = f"/workers/{org.slug}"
    make_endpoint(client, org, receiver.url(path, delay=0.15))
    audit_in(app, org, people["owner"], n=EVENTS)

    doomed = start_worker(app, database_urls, tmp_path, "doomed")
    survivors = []
    try:
        # the first worker claims a batch per thread and starts delivering; kill it then
        receiver.wait_for(path, 2, timeout=30)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        killed_at = len(receiver.at(path))
        survivors = [start_worker(app, database_urls, tmp_path, f"w{n}") for n in (1, 2)]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if len({r.headers["Webhook-Id"] for r in receiver.at(path)}) >= EVENTS:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # let the last results be recorded
    finally:
        for process in (doomed, *survivors):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in survivors:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    assert killed_at < EVENTS
    received = receiver.at(path)
    ids = [r.headers["Webhook-Id"] for r in received]
    bodies = {json.loads(r.body)["id"] for r in received}
    assert len(set(ids)) == EVENTS, f"{len(set(ids))} of {EVENTS} events arrived"
    assert bodies == set(ids)
    log = factories.execute(
        "SELECT d.message_id, a.attempt, a.status_code, a.worker"
        " FROM event_delivery_attempts a JOIN event_deliveries d"
        "   ON d.org_id = a.org_id AND d.id = a.delivery_id WHERE a.org_id = :o", o=org.id).all()
    successes = [row.message_id for row in log if row.status_code == 200]
    assert sorted(successes) == sorted(set(ids)), "an event is in the log as delivered twice"
    assert factories.execute("SELECT count(*) FROM event_deliveries WHERE org_id = :o"
                             " AND status <> 'delivered'", o=org.id).scalar() == 0
    # the killed worker's claims came back: delivered by a survivor on a later attempt
    assert any(row.attempt >= 2 and row.worker in ("w1", "w2") for row in log
               if row.status_code == 200)
    assert {row.worker for row in log} <= {"doomed", "w1", "w2"}
