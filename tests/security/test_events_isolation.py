"""Events across tenants and hostile input: org A's endpoint never receives org B's events,
private addresses are refused, bad URLs and filters are form errors, unreachable and slow
receivers cost a timeout and never a stuck worker."""

from __future__ import annotations

import json
import time

import pytest

from dashboard.events import deliveries
from dashboard.events.catalogue import ALL_TYPES
from dashboard.worker import Worker
from tests import factories
from tests.helpers import login, post
from tests.support.events import attempts_of, audit_in, make_endpoint, org_on, pump


@pytest.fixture
def worker(app):
    return Worker(app, name="isolation-worker")


def test_a_flood_of_both_orgs_reaches_each_org_only_its_own_endpoint(app, receiver, worker):
    a, a_people = org_on()
    b, b_people = org_on()
    client_a, client_b = app.test_client(), app.test_client()
    login(client_a, a_people["owner"])
    login(client_b, b_people["owner"])
    path_a, path_b = f"/flood/{a.slug}", f"/flood/{b.slug}"
    make_endpoint(client_a, a, receiver.url(path_a))
    make_endpoint(client_b, b, receiver.url(path_b))
    for _ in range(5):  # interleaved commits of both orgs
        audit_in(app, a, a_people["owner"], n=8)
        audit_in(app, b, b_people["owner"], n=8)
    got_a = receiver.wait_for(path_a, 40, pump=pump(worker), timeout=60)
    got_b = receiver.wait_for(path_b, 40, pump=pump(worker), timeout=60)
    for got, org, other in ((got_a, a, b), (got_b, b, a)):
        bodies = [json.loads(r.body) for r in got]
        assert {body["organization_id"] for body in bodies} == {str(org.id)}
        assert all(str(other.id) not in r.body.decode() for r in got)
        assert len({r.headers["Webhook-Id"] for r in got}) == 40


def test_the_worker_acts_inside_the_org_and_sees_no_other(app, receiver):
    """The worker's credential opens one org: in it, another org's rows read as nothing."""
    from sqlalchemy import text

    from dashboard import tenancy

    a, a_people = org_on()
    b, b_people = org_on()
    client = app.test_client()
    login(client, a_people["owner"])
    make_endpoint(client, a, receiver.url(f"/ctx/{a.slug}"))
    login(client, b_people["owner"])
    make_endpoint(client, b, receiver.url(f"/ctx/{b.slug}"))
    worker = Worker(app)
    context = worker.context_for(a.id)
    with tenancy.scoped_session(worker.factory, context) as session:
        seen = set(session.scalars(text("SELECT DISTINCT org_id FROM event_destinations")))
        assert seen == {a.id}
        assert session.scalar(text("SELECT count(*) FROM audit_events WHERE org_id = :b"),
                              {"b": b.id}) == 0


def test_an_org_without_a_destination_gets_no_worker_credential(app, runtime_sessions):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    org, _ = org_on()
    assert Worker(app).context_for(org.id) is None
    with runtime_sessions() as session, pytest.raises(DBAPIError, match="not allowed"):
        session.execute(text("SELECT app_events_worker_credential(:o)"), {"o": org.id})


# ------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest",
    "https://[::1]/hook", "https://localhost/hook", "https://db.internal/hook",
    "https://192.168.0.10:8443/hook", "http://example.com/hook",
])
def test_private_and_plain_http_urls_are_refused(app, client, monkeypatch, url):
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_EVENT_URLS", False)
    org, people = org_on()
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/webhooks", {"url": url})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "private" in html or "https://" in html
    assert factories.execute("SELECT count(*) FROM event_destinations WHERE org_id = :o",
                             o=org.id).scalar() == 0


def test_the_worker_checks_the_connected_address_too(app, receiver):
    """An endpoint stored while private addresses were allowed (or a name that later resolves
    to one) is refused when the worker connects."""
    org, people = org_on()
    client = app.test_client()
    login(client, people["owner"])
    path = f"/private/{org.slug}"
    make_endpoint(client, org, receiver.url(path).replace("http://", "https://"))
    audit_in(app, org, people["owner"])
    strict = Worker(app, name="strict")
    strict.settings = deliveries.Settings(**{**strict.settings.__dict__, "allow_private": False})
    for _ in range(3):
        strict.run_once()
    assert receiver.at(path) == []
    (first, *_) = attempts_of(org)
    assert "private or reserved" in first.error and first.status_code is None


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("url, message", [
    ("", "Enter the URL"),
    ("not a url", "http"),
    ("ftp://example.com/x", "http"),
    ("https://", "http"),
    ("https://user:secret@example.com/hook", "user name or password"),
    ("https://example.com:99999/hook", "not a valid URL"),
    ("https://example.com/" + "x" * 3000, "longer than"),
])
def test_invalid_urls_are_form_errors(client, url, message):
    org, people = org_on()
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/webhooks", {"url": url})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize("types, message", [
    (["no.such_event"], "Unknown event type"),
    ([f"x{i}" for i in range(5000)], "At most"),
    (list(ALL_TYPES) * 3, "At most"),
])
def test_huge_or_unknown_filters_are_form_errors(client, types, message):
    org, people = org_on()
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/webhooks",
                    {"url": "https://example.com/hook", "event_types": types})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM event_destinations WHERE org_id = :o",
                             o=org.id).scalar() == 0


def test_an_unreachable_host_is_logged_and_retried(app, receiver, worker):
    org, people = org_on()
    client = app.test_client()
    login(client, people["owner"])
    make_endpoint(client, org, "http://127.0.0.1:9/nobody-listens")
    audit_in(app, org, people["owner"])
    end = time.monotonic() + 10
    while time.monotonic() < end and len(attempts_of(org)) < 2:
        pump(worker)()
    first, second, *_ = attempts_of(org)
    assert first.status_code is None and "connect" in first.error.lower()
    assert second.attempt == 2 and first.delivery_id == second.delivery_id


def test_a_slow_receiver_times_out_and_does_not_hold_the_worker(app, receiver, worker):
    slow_org, slow_people = org_on()
    fast_org, fast_people = org_on()
    client = app.test_client()
    login(client, slow_people["owner"])
    make_endpoint(client, slow_org, receiver.url(f"/slow/{slow_org.slug}", delay=5))
    login(client, fast_people["owner"])
    fast_path = f"/fast/{fast_org.slug}"
    make_endpoint(client, fast_org, receiver.url(fast_path))
    audit_in(app, slow_org, slow_people["owner"])
    audit_in(app, fast_org, fast_people["owner"])
    started = time.monotonic()
    threads = worker.start(threads=2, jobs=False)
    try:
        receiver.wait_for(fast_path, 1, timeout=10)
        end = time.monotonic() + 10
        while time.monotonic() < end and not attempts_of(slow_org):
            time.sleep(0.05)
    finally:
        worker.stop(threads)
    (attempt, *_) = attempts_of(slow_org)
    assert "longer than 2 s" in attempt.error
    assert time.monotonic() - started < 10
    assert all(not t.is_alive() for t in threads)
