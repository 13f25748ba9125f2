"""/metrics: Prometheus text, labels by endpoint (never a path or slug), who may scrape."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import factories
from tests.conftest import make_app
from tests.helpers import csrf_token, login


def samples(client, **kwargs) -> dict:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_endpoint_and_status_class_never_by_path(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    before = samples(client)
    for _ in range(3):
        assert client.get(f"/o/{org.slug}/members").status_code == 200
    assert client.get(f"/o/{org.slug}/no-such-page").status_code == 404
    after = samples(client)
    key = {"endpoint": "members.index", "method": "GET", "status_class": "2xx"}
    assert value(after, "tenantdesk_http_requests_total", **key) - value(
        before, "tenantdesk_http_requests_total", **key) == 3
    unmatched = {"endpoint": "unmatched", "method": "GET", "status_class": "4xx"}
    assert value(after, "tenantdesk_http_requests_total", **unmatched) > value(
        before, "tenantdesk_http_requests_total", **unmatched)
    latency = value(after, "tenantdesk_http_request_duration_seconds_count",
                    endpoint="members.index", method="GET")
    assert latency >= 3
    text = client.get("/metrics").get_data(as_text=True)
    assert org.slug not in text and str(org.id) not in text
    assert "tenantdesk_db_pool_in_use" in text and "tenantdesk_db_pool_waiting" in text


def test_login_failures_and_rate_limit_refusals_are_counted(database_urls, tmp_path):
    app = make_app(database_urls, tmp_path, LOGIN_RATE_LIMIT="3/minute",
                   RATELIMIT_KEY_PREFIX="metrics-test")
    try:
        client = app.test_client()
        before = samples(client)
        user = factories.UserFactory()
        statuses = []
        for _ in range(5):
            statuses.append(client.post("/login", data={
                "csrf_token": csrf_token(client), "email": user.email, "password": "wrong"},
            ).status_code)
        after = samples(client)
    finally:
        app.extensions["tenantdesk.db"].dispose()
    assert statuses.count(401) == 3 and statuses.count(429) == 2, statuses
    assert value(after, "tenantdesk_login_failures_total") - value(
        before, "tenantdesk_login_failures_total") == 3
    assert value(after, "tenantdesk_rate_limit_refusals_total", limit="sign-in") - value(
        before, "tenantdesk_rate_limit_refusals_total", limit="sign-in") == 2


@pytest.mark.parametrize("headers", [{"X-Forwarded-For": "203.0.113.9"},
                                     {"Forwarded": "for=203.0.113.9"}])
def test_without_a_token_only_direct_loopback_callers_may_scrape(client, headers):
    assert client.get("/metrics", headers=headers).status_code == 404
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 404
    assert client.get("/metrics").status_code == 200


def test_with_a_token_the_token_is_required_from_anywhere(database_urls, tmp_path):
    app = make_app(database_urls, tmp_path, METRICS_TOKEN="scrape-" + "x" * 32)
    try:
        client = app.test_client()
        remote = {"REMOTE_ADDR": "203.0.113.9"}
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"},
                          environ_base=remote).status_code == 404
        good = client.get("/metrics", environ_base=remote,
                          headers={"Authorization": "Bearer scrape-" + "x" * 32})
    finally:
        app.extensions["tenantdesk.db"].dispose()
    assert good.status_code == 200
    assert re.search(r"^tenantdesk_http_requests_total\{", good.get_data(as_text=True), re.M)


def test_label_values_stay_bounded(app):
    """Every label value of the request metrics comes from the URL map (or 'unmatched')."""
    from flask import Flask

    from dashboard import devmail
    from dashboard.ops import metrics
    from tests.probe import probe

    # The registry is the process's: apps that other tests built with the probe blueprint
    # (tests/probe.py) or with the development mailbox (devmail, dev mode only) count their
    # requests under those endpoints too.
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} | {"unmatched"}
    probe_map = Flask(__name__)
    probe_map.register_blueprint(probe)
    probe_map.register_blueprint(devmail.bp)
    endpoints |= {rule.endpoint for rule in probe_map.url_map.iter_rules()}
    for sample_family in metrics.REQUESTS.collect():
        for sample in sample_family.samples:
            assert sample.labels["endpoint"] in endpoints, sample.labels
            assert re.fullmatch(r"[1-5]xx", sample.labels["status_class"]), sample.labels
