"""Webhooks end to end: the web page makes an endpoint, real actions emit events through the
outbox, the worker signs and delivers them to a real HTTP receiver on loopback."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import pytest
from standardwebhooks import Webhook

from dashboard import tenancy
from dashboard.audit.service import Actor, record_audit
from dashboard.worker import Worker
from tests import factories
from tests.helpers import csrf_from, login, post
from tests.support.events import attempts_of, audit_in, make_endpoint, org_on, pump

FOUR = ["invitation.created", "membership.created", "membership.role_changed",
        "membership.removed"]


@pytest.fixture
def worker(app):
    return Worker(app, name="test-worker")


# --------------------------------------------------------------------------- the journey


def test_invite_accept_role_change_remove_are_four_signed_events_in_order(
        app, client, receiver, worker, mail_server):
    org, people = org_on()
    login(client, people["owner"])
    path = f"/journey/{org.slug}"
    _, secret = make_endpoint(client, org, receiver.url(path), FOUR)

    assert post(client, f"/o/{org.slug}/invitations",
                {"emails": "joiner@example.com", "role": "member"}).status_code == 303
    (link,) = mail_server.links(mail_server.last(to="joiner@example.com"))
    invitee = app.test_client()
    page = invitee.get(urlsplit(link).path).get_data(as_text=True)
    joined = invitee.post(urlsplit(link).path, data={
        "csrf_token": csrf_from(page), "name": "Jo Joiner",
        "password": "a perfectly fine passphrase", "confirm": "a perfectly fine passphrase"})
    assert joined.status_code == 303
    joiner = factories.execute("SELECT id FROM users WHERE email = 'joiner@example.com'").scalar()
    assert post(client, f"/o/{org.slug}/members/{joiner}/role",
                {"role": "admin"}).status_code in (200, 303)
    assert post(client, f"/o/{org.slug}/members/{joiner}/remove").status_code == 303

    got = receiver.wait_for(path, 4, pump=pump(worker))
    webhook = Webhook(secret)
    events = [webhook.verify(r.body, r.headers) for r in got]  # raises if a signature is wrong
    assert [e["type"] for e in events] == FOUR
    assert all(e["organization_id"] == str(org.id) for e in events)
    assert len({r.headers["Webhook-Id"] for r in got}) == 4
    assert events[2]["data"]["details"] == {"before": {"role": "member"},
                                            "after": {"role": "admin"}}
    # the invitation.accepted event exists too but the filter left it out
    time.sleep(0.2)
    worker.run_once()
    assert len(receiver.at(path)) == 4


def test_a_tampered_body_or_a_wrong_secret_fails_verification(app, client, receiver, worker):
    org, people = org_on(bob="member")
    login(client, people["owner"])
    path = f"/tamper/{org.slug}"
    _, secret = make_endpoint(client, org, receiver.url(path))
    audit_in(app, org, people["owner"])
    (got,) = receiver.wait_for(path, 1, pump=pump(worker))
    Webhook(secret).verify(got.body, got.headers)
    from standardwebhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"tester", b"mallory"), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)


def test_a_500_is_retried_and_the_200_ends_it(app, client, receiver, worker):
    org, people = org_on()
    login(client, people["owner"])
    path = f"/flaky/{org.slug}"
    endpoint_id, secret = make_endpoint(client, org, receiver.url(path, statuses=(500, 200)))
    audit_in(app, org, people["owner"])
    first, second = receiver.wait_for(path, 2, pump=pump(worker))
    assert first.body == second.body and first.headers["Webhook-Id"] == second.headers["Webhook-Id"]
    Webhook(secret).verify(second.body, second.headers)
    time.sleep(0.1)
    worker.run_once()
    rows = attempts_of(org)
    assert [(r.attempt, r.status_code) for r in rows] == [(1, 500), (2, 200)]
    assert rows[-1].status == "delivered" and rows[0].error == "HTTP 500"
    page = client.get(f"/o/{org.slug}/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "HTTP 200" in page and "delivered" in page


def test_a_rolled_back_action_emits_nothing(app, client, receiver, worker):
    org, people = org_on()
    login(client, people["owner"])
    path = f"/rollback/{org.slug}"
    make_endpoint(client, org, receiver.url(path))
    factory = app.extensions["tenantdesk.db"].sessionmaker
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    before = factories.execute("SELECT count(*) FROM event_outbox WHERE org_id = :o",
                               o=org.id).scalar()
    with pytest.raises(RuntimeError), tenancy.scoped_session(factory, context) as session:
        record_audit(session, org_id=org.id, actor=Actor(label="tester"),
                     action="member.role_change", target="user:gone")
        from sqlalchemy import text

        # the trigger wrote the outbox row inside the transaction...
        assert session.scalar(text("SELECT count(*) FROM event_outbox")) == before + 1
        raise RuntimeError("the change fails after its audit row")
    # ...and it went with the rollback
    assert factories.execute("SELECT count(*) FROM event_outbox WHERE org_id = :o",
                             o=org.id).scalar() == before
    for _ in range(5):
        worker.run_once()
    assert receiver.at(path) == []
    audit_in(app, org, people["owner"])  # the same action committed is delivered
    receiver.wait_for(path, 1, pump=pump(worker))


def test_the_secret_rotates_with_overlap(app, client, receiver, worker):
    org, people = org_on()
    login(client, people["owner"])
    path = f"/rotate/{org.slug}"
    endpoint_id, old = make_endpoint(client, org, receiver.url(path))
    page = post(client, f"/o/{org.slug}/webhooks/{endpoint_id}/rotate")
    assert page.status_code == 200
    new = re.search(r'value="(whsec_[^"]+)"', page.get_data(as_text=True)).group(1)
    assert new != old
    audit_in(app, org, people["owner"])
    (got,) = receiver.wait_for(path, 1, pump=pump(worker))
    Webhook(old).verify(got.body, got.headers)  # receivers not yet switched keep working
    Webhook(new).verify(got.body, got.headers)
    assert len(got.headers["Webhook-Signature"].split(" ")) == 2


def test_disabled_endpoints_receive_nothing_and_manual_redelivery_sends_again(
        app, client, receiver, worker):
    org, people = org_on()
    login(client, people["owner"])
    path = f"/toggle/{org.slug}"
    endpoint_id, _ = make_endpoint(client, org, receiver.url(path))
    audit_in(app, org, people["owner"])
    receiver.wait_for(path, 1, pump=pump(worker))
    assert post(client, f"/o/{org.slug}/webhooks/{endpoint_id}/state",
                {"enabled": "0"}).status_code == 303
    audit_in(app, org, people["owner"])
    for _ in range(3):
        worker.run_once()
    assert len(receiver.at(path)) == 1
    assert post(client, f"/o/{org.slug}/webhooks/{endpoint_id}/state",
                {"enabled": "1"}).status_code == 303
    delivery = factories.execute(
        "SELECT id FROM event_deliveries WHERE org_id = :o AND status = 'delivered'",
        o=org.id).scalar_one()
    assert post(client, f"/o/{org.slug}/webhooks/{endpoint_id}/deliveries/{delivery}"
                        "/redeliver").status_code == 303
    first, again = receiver.wait_for(path, 2, pump=pump(worker))
    assert first.headers["Webhook-Id"] == again.headers["Webhook-Id"]
    assert post(client, f"/o/{org.slug}/webhooks/{endpoint_id}/deliveries/{uuid.uuid4()}"
                        "/redeliver").status_code == 404


def test_sustained_failure_disables_the_endpoint_and_mails_the_owners(
        app, client, receiver, mail_server, monkeypatch):
    org, people = org_on()
    login(client, people["owner"])
    path = f"/down/{org.slug}"
    endpoint_id, _ = make_endpoint(client, org, receiver.url(path, statuses=(503,)))
    monkeypatch.setitem(app.config, "EVENTS_DISABLE_AFTER_SECONDS", 0.3)
    worker = Worker(app, name="disabler")
    audit_in(app, org, people["owner"])
    end = time.monotonic() + 15
    while time.monotonic() < end and factories.execute(
            "SELECT enabled FROM event_destinations WHERE id = :d", d=endpoint_id).scalar():
        pump(worker)()
    row = factories.execute("SELECT enabled, disabled_reason FROM event_destinations"
                            " WHERE id = :d", d=endpoint_id).one()
    assert row.enabled is False and "failed" in row.disabled_reason
    message = mail_server.last(to=people["owner"].email)
    assert "disabled" in message["Subject"] and path in mail_server.text(message)
    assert factories.execute("SELECT count(*) FROM event_deliveries WHERE org_id = :o"
                             " AND status = 'pending'", o=org.id).scalar() == 0


def test_the_plan_gates_the_page_and_the_deliveries(app, client, receiver, worker):
    org, people = org_on("free")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/webhooks", {"url": receiver.url("/free")})
    assert response.status_code == 403
    assert factories.execute("SELECT count(*) FROM event_destinations WHERE org_id = :o",
                             o=org.id).scalar() == 0
    assert "does not include webhooks" in client.get(f"/o/{org.slug}/webhooks").get_data(
        as_text=True)


def test_members_and_guests_cannot_manage_webhooks(app, client):
    org, people = org_on(bob="member")
    login(client, people["bob"])
    assert client.get(f"/o/{org.slug}/webhooks").status_code == 403
    assert post(client, f"/o/{org.slug}/webhooks",
                {"url": "https://example.com/hook"}).status_code == 403


def test_queue_metrics_for_ops(app, client, receiver):
    from dashboard.worker import queue_metrics

    org, people = org_on()
    login(client, people["owner"])
    make_endpoint(client, org, receiver.url(f"/metrics/{org.slug}"))
    audit_in(app, org, people["owner"], n=3)
    figures = queue_metrics(app)
    assert figures["events_outbox_undispatched"] >= 3
    assert set(figures) >= {"events_deliveries_pending", "events_deliveries_due",
                            "events_oldest_due_seconds", "events_latency_p50_ms",
                            "events_latency_p95_ms", "events_attempts_5m"}
    assert all(value >= 0 for value in figures.values())


def test_periodic_jobs_run_once_per_round_under_the_lock(app):
    from dashboard.worker import run_periodic_jobs

    lines = []
    assert run_periodic_jobs(app, lines.append, lock=True) is True
    assert any("purged" in line for line in lines)


def test_a_quota_warning_is_an_event(app, client, receiver, worker):
    from datetime import UTC, datetime

    from dashboard.usage import service as usage

    org, people = org_on()
    login(client, people["owner"])
    path = f"/quota/{org.slug}"
    _, secret = make_endpoint(client, org, receiver.url(path), ["usage.quota_warning"])
    limit = factories.plan_quota("growth", "seats")
    factory = app.extensions["tenantdesk.db"].sessionmaker
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    with tenancy.scoped_session(factory, context) as session:
        usage.record_usage(session, org.id, "seats", limit, datetime.now(UTC), "q1")
        usage.record_usage(session, org.id, "seats", limit + 1, datetime.now(UTC), "q2")
    (got,) = receiver.wait_for(path, 1, pump=pump(worker))
    event = Webhook(secret).verify(got.body, got.headers)
    assert event["type"] == "usage.quota_warning"
    assert event["data"]["details"]["metric"] == "seats"
    assert event["data"]["details"]["limit"] == limit
    time.sleep(0.1)
    worker.run_once()
    assert len(receiver.at(path)) == 1  # once per metric and period


def test_deliveries_feed_the_ops_histogram(app, client, receiver, worker):
    from dashboard.ops import metrics

    def delivered() -> float:
        return sum(s.value for m in metrics.DELIVERY_SECONDS.collect() for s in m.samples
                   if s.name.endswith("_count") and s.labels.get("outcome") == "delivered")

    before = delivered()
    org, people = org_on()
    login(client, people["owner"])
    path = f"/histogram/{org.slug}"
    make_endpoint(client, org, receiver.url(path))
    audit_in(app, org, people["owner"], n=2)
    receiver.wait_for(path, 2, pump=pump(worker))
    assert delivered() >= before + 2
