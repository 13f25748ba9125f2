"""Webhook endpoints through /api/v1: create (secret once), change, rotate, deliveries,
redelivery; the plan, the scopes and bad input."""

from __future__ import annotations

import uuid

import pytest
from standardwebhooks import Webhook

from dashboard.worker import Worker
from tests import factories
from tests.api.conftest import api_org, bearer
from tests.support.events import audit_in, pump


def key_for(org, *scopes):
    plaintext, _ = factories.api_key(org, list(scopes) or ["webhooks:read", "webhooks:write"])
    return bearer(plaintext)


def test_an_endpoint_made_through_the_api_receives_signed_events(app, client, receiver):
    org, people = api_org("growth")
    headers = key_for(org)
    path = f"/api-hook/{org.slug}"
    created = client.post("/api/v1/webhooks", headers=headers, json={
        "url": receiver.url(path), "event_types": ["membership.role_changed"]})
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    secret, endpoint_id = body["secret"], body["id"]
    assert secret.startswith("whsec_") and body["event_types"] == ["membership.role_changed"]
    listed = client.get("/api/v1/webhooks", headers=headers).get_json()["data"]
    assert [e["id"] for e in listed] == [endpoint_id] and "secret" not in listed[0]

    audit_in(app, org, people["owner"])
    (got,) = receiver.wait_for(path, 1, pump=pump(Worker(app)))
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "membership.role_changed"

    deliveries = client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries",
                            headers=headers).get_json()["data"]
    assert deliveries[0]["status"] == "delivered" and deliveries[0]["last_status_code"] == 200
    again = client.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/{deliveries[0]['id']}"
                        "/redeliver", headers=headers)
    assert again.status_code == 202 and again.get_json()["status"] == "pending"

    rotated = client.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret", headers=headers)
    assert rotated.status_code == 200 and rotated.get_json()["secret"] != secret
    off = client.patch(f"/api/v1/webhooks/{endpoint_id}", headers=headers,
                       json={"enabled": False})
    assert off.status_code == 200 and off.get_json()["enabled"] is False
    assert client.delete(f"/api/v1/webhooks/{endpoint_id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/webhooks/{endpoint_id}", headers=headers).status_code == 404


def test_event_types_are_listed(client):
    org, _ = api_org("growth")
    data = client.get("/api/v1/webhooks/event-types", headers=key_for(org)).get_json()["data"]
    assert {"type": "membership.created", "version": 1,
            "description": "Someone joined (an accepted invitation)."} in data


@pytest.mark.parametrize("payload, status, code", [
    ({"url": "not a url"}, 422, "validation_error"),
    ({"url": "https://example.com/x", "event_types": ["nope"]}, 422, "validation_error"),
    ({"url": "https://example.com/x", "event_types": ["x"] * 101}, 422, "validation_error"),
    ({"url": "https://example.com/x", "org_id": str(uuid.uuid4())}, 422, "validation_error"),
    ({"url": "https://example.com/" + "x" * 3000}, 422, "validation_error"),
])
def test_bad_input_is_refused_and_changes_nothing(client, payload, status, code):
    org, _ = api_org("growth")
    response = client.post("/api/v1/webhooks", headers=key_for(org), json=payload)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert factories.execute("SELECT count(*) FROM event_destinations WHERE org_id = :o",
                             o=org.id).scalar() == 0


def test_private_addresses_are_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_EVENT_URLS", False)
    org, _ = api_org("growth")
    response = client.post("/api/v1/webhooks", headers=key_for(org),
                           json={"url": "https://169.254.169.254/latest/meta-data"})
    assert response.status_code == 422 and "private" in response.get_json()["error"]["message"]


def test_a_read_only_key_cannot_create(client):
    org, _ = api_org("growth")
    read_only = key_for(org, "webhooks:read")
    assert client.post("/api/v1/webhooks", headers=read_only,
                       json={"url": "https://example.com/x"}).status_code == 403
    assert client.get("/api/v1/webhooks", headers=read_only).status_code == 200


def test_another_orgs_endpoint_is_a_404(client):
    a, _ = api_org("growth")
    b, _ = api_org("growth")
    made = client.post("/api/v1/webhooks", headers=key_for(b),
                       json={"url": "https://example.com/b"}).get_json()
    for method, suffix in [("get", ""), ("patch", ""), ("delete", ""),
                           ("post", "/rotate-secret"), ("get", "/deliveries")]:
        kwargs = {"json": {"enabled": False}} if method == "patch" else {}
        response = getattr(client, method)(f"/api/v1/webhooks/{made['id']}{suffix}",
                                           headers=key_for(a), **kwargs)
        assert response.status_code == 404, (method, suffix)
    assert factories.execute("SELECT enabled FROM event_destinations WHERE id = :d",
                             d=made["id"]).scalar() is True


def test_old_finished_deliveries_are_pruned_and_pending_ones_kept(app, client, receiver):
    org, people = api_org("growth")
    headers = key_for(org)
    path = f"/prune/{org.slug}"
    client.post("/api/v1/webhooks", headers=headers, json={"url": receiver.url(path)})
    audit_in(app, org, people["owner"], n=2)
    worker = Worker(app)
    receiver.wait_for(path, 2, pump=pump(worker))
    factories.execute("UPDATE event_deliveries SET finished_at = now() - interval '40 days'"
                      " WHERE org_id = :o", o=org.id)
    factories.execute("UPDATE event_outbox SET dispatched_at = now() - interval '40 days'"
                      " WHERE org_id = :o", o=org.id)
    factories.execute("UPDATE event_deliveries SET status = 'pending', next_attempt_at ="
                      " now() + interval '1 day' WHERE org_id = :o AND id = (SELECT min(id::text)"
                      "::uuid FROM event_deliveries WHERE org_id = :o)", o=org.id)
    Worker(app).work_org(org.id)  # a fresh worker: its first visit to the org prunes
    left = factories.execute("SELECT status FROM event_deliveries WHERE org_id = :o",
                             o=org.id).scalars().all()
    assert left == ["pending"]
    assert factories.execute("SELECT count(*) FROM event_delivery_attempts a JOIN"
                             " event_deliveries d ON d.id = a.delivery_id WHERE a.org_id = :o"
                             " AND d.status <> 'pending'", o=org.id).scalar() == 0
