"""Audit-log streams: every audit event, in order, as HTTPS JSON or Splunk HEC, with retries
that keep the order, and a lag the owner can see."""

from __future__ import annotations

import json

import pytest

from dashboard.worker import Worker
from tests import factories
from tests.helpers import login, post
from tests.support.events import audit_in, org_on, pump


@pytest.fixture
def worker(app):
    return Worker(app, name="stream-worker")


def make_stream(client, org, kind, url, token=""):
    response = post(client, f"/o/{org.slug}/audit-streams",
                    {"kind": kind, "url": url, "token": token})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]


def audit_actions(org):
    return factories.execute("SELECT id::text FROM audit_events WHERE org_id = :o"
                             " ORDER BY at, id", o=org.id).scalars().all()


def test_https_json_stream_sends_every_audit_event_in_order(app, client, receiver, worker):
    org, people = org_on("scale")
    login(client, people["owner"])
    path = f"/siem/{org.slug}"
    make_stream(client, org, "stream_https", receiver.url(path), token="s3cret-token")
    audit_in(app, org, people["owner"], action="anything.at_all", n=5)
    (got,) = receiver.wait_for(path, 1, pump=pump(worker))
    assert got.headers["Authorization"] == "Bearer s3cret-token"
    records = json.loads(got.body)
    assert [r["action"] for r in records][-5:] == ["anything.at_all"] * 5
    assert [r["details"]["after"]["n"] for r in records[-5:]] == [0, 1, 2, 3, 4]
    assert [r["id"] for r in records] == audit_actions(org)[-len(records):]


def test_a_failed_batch_is_retried_before_anything_newer(app, client, receiver, worker):
    org, people = org_on("scale")
    login(client, people["owner"])
    path = f"/hec/{org.slug}"
    stream_id = make_stream(client, org, "stream_splunk",
                            receiver.url(path, statuses=(500, 500, 200)), token="hec-token")
    audit_in(app, org, people["owner"], n=3)
    receiver.wait_for(path, 1, pump=pump(worker))
    page = client.get(f"/o/{org.slug}/audit-streams/{stream_id}").get_data(as_text=True)
    assert 'data-testid="lag"' in page and "HTTP 500" in page
    audit_in(app, org, people["owner"], n=2)
    got = receiver.wait_for(path, 3, pump=pump(worker))
    for request in got:
        assert request.headers["Authorization"] == "Splunk hec-token"
    lines = [json.loads(line) for line in got[-1].body.decode().splitlines()]
    assert all(line["sourcetype"] == "tenantdesk:audit" for line in lines)
    delivered = [line["event"]["id"] for line in lines]
    worker.run_once()
    later = [json.loads(line)["event"]["id"] for r in receiver.at(path)[3:]
             for line in r.body.decode().splitlines()]
    everything = audit_actions(org)
    # each audit event delivered once by a 200, in the log's order
    assert delivered + later == everything[-len(delivered + later):]
    assert everything[-5:] == (delivered + later)[-5:]
    lag = client.get(f"/o/{org.slug}/audit-streams").get_data(as_text=True)
    assert "0 s" in lag


def test_the_plan_gates_streams(client):
    org, people = org_on("growth")
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/audit-streams",
                {"kind": "stream_https", "url": "https://siem.example.com/in"}
                ).status_code == 403


def test_splunk_needs_a_token(client):
    org, people = org_on("scale")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/audit-streams",
                    {"kind": "stream_splunk", "url": "https://splunk.example.com:8088/x"})
    assert response.status_code == 400 and "HEC token" in response.get_data(as_text=True)
