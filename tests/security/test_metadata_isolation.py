"""Metadata filters never cross orgs: orgs A and B tag a member, an API key (through the API)
and usage events with the same value, and every route (JSON API, usage CSV and chart data,
the partner API, the dashboard pages, the staff console) answers with the caller's own rows
only. Writes with another org's ids change nothing."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest

from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer
from tests.helpers import login, post
from tests.security.test_partner_api import body, provider, provision  # noqa: F401

SHARED = {"tenant_id": "shared-7"}
FILTER = {"metadata[tenant_id]": "shared-7"}


def _tag_everything(client, quantity):
    org, people = api_org(owner="owner", bob="member")
    key, key_id = factories.api_key(org, all_scopes())
    headers = bearer(key)
    assert client.patch("/api/v1/org", json={"metadata": SHARED},
                        headers=headers).status_code == 200
    assert client.patch(f"/api/v1/members/{people['bob'].id}", json={"metadata": SHARED},
                        headers=headers).status_code == 200
    assert client.patch(f"/api/v1/api-keys/{key_id}", json={"metadata": SHARED},
                        headers=headers).status_code == 200
    people["key_id"] = key_id
    now = datetime.now(UTC).isoformat()
    sent = client.post("/api/v1/usage/events", headers=headers, json={"events": [
        {"metric": "api_calls", "quantity": quantity, "timestamp": now,
         "idempotency_key": "same-key-in-both-orgs", "metadata": SHARED}]})
    assert sent.status_code == 200, sent.get_json()
    return org, people, headers


@pytest.fixture
def two_orgs(client):
    a = _tag_everything(client, 5)
    b = _tag_everything(client, 900)
    return a, b


def test_the_api_filters_return_only_the_callers_rows(client, two_orgs):
    (org_a, people_a, headers_a), (org_b, people_b, headers_b) = two_orgs
    for headers, people, quantity in ((headers_a, people_a, 5), (headers_b, people_b, 900)):
        found = client.get("/api/v1/members", query_string=FILTER, headers=headers).get_json()
        assert [m["user_id"] for m in found["items"]] == [str(people["bob"].id)]
        series = client.get("/api/v1/usage/series",
                            query_string={"range": 7, "metric": "api_calls", **FILTER},
                            headers=headers).get_json()
        assert series["metrics"][0]["total"] == quantity
        keys = client.get("/api/v1/api-keys", query_string=FILTER, headers=headers).get_json()
        assert [k["id"] for k in keys["items"]] == [str(people["key_id"])]
    # A's key naming B's member or key: 404, and B's metadata unchanged.
    bob_b, key_b = people_b["bob"], people_b["key_id"]
    for request in (
        lambda: client.get(f"/api/v1/members/{bob_b.id}", headers=headers_a),
        lambda: client.patch(f"/api/v1/members/{bob_b.id}", json={"metadata": {"x": "y"}},
                             headers=headers_a),
        lambda: client.get(f"/api/v1/api-keys/{key_b}", headers=headers_a),
        lambda: client.patch(f"/api/v1/api-keys/{key_b}", json={"metadata": {"x": "y"}},
                             headers=headers_a),
        lambda: client.patch(f"/api/v1/api-keys/{key_b}", json={"metadata": {}},
                             headers=headers_a),
    ):
        assert request().status_code == 404
    rows = factories.execute("SELECT key, value FROM member_metadata WHERE user_id = :u",
                             u=bob_b.id).all()
    assert [tuple(r) for r in rows] == [("tenant_id", "shared-7")]
    rows = factories.execute("SELECT key, value FROM api_key_metadata WHERE credential_id = :k",
                             k=key_b).all()
    assert [tuple(r) for r in rows] == [("tenant_id", "shared-7")]


def test_usage_csv_and_chart_data_filter_within_the_org(client, two_orgs):
    (org_a, people_a, _), (org_b, _, _) = two_orgs
    login(client, people_a["owner"])
    response = client.get(f"/o/{org_a.slug}/usage.csv", query_string={"range": 7, **FILTER})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    calls = [int(r["value"]) for r in rows if r["metric"] == "api_calls" and r["value"]]
    assert sum(calls) == 5
    data = client.get(f"/o/{org_a.slug}/usage/data.json",
                      query_string={"range": 7, "metric": "api_calls", **FILTER}).get_json()
    assert data["metrics"][0]["total"] == 5 and data["metrics"][0]["quota"] is None
    # B's pages stay B's: A's owner gets no way in (404/403 through the org switch).
    assert client.get(f"/o/{org_b.slug}/usage.csv",
                      query_string={"range": 7, **FILTER}).status_code in (302, 403, 404)
    page = client.get(f"/o/{org_a.slug}/usage", query_string={"range": 7, **FILTER})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="usage-filter"' in html
    assert 'data-testid="total-api_calls">5<' in html
    assert "usage.csv?range=7&amp;metadata%5Btenant_id%5D=shared-7" in html  # kept on links
    assert client.get(f"/o/{org_a.slug}/usage?range=7&metadata[x]=a%0Ab").status_code == 400
    bad = client.get(f"/o/{org_a.slug}/usage.csv?range=7&metadata[a]=1&metadata[b]=2")
    assert bad.status_code == 400
    bad = client.get(f"/o/{org_a.slug}/usage/data.json?range=7&metadata[bad%20key]=1")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_query"


def test_partner_usage_filter_reads_the_providers_org_only(client, provider):  # noqa: F811
    _, headers = provider
    made = provision(client, headers, f"ext-{uuid.uuid4().hex[:8]}", body(metadata=SHARED))
    assert made.status_code == 201, made.get_json()
    org = made.get_json()
    org_id, key = org["org"]["id"], org["initial_api_key"]["secret"]
    factories.put_on_plan(type("O", (), {"id": uuid.UUID(org_id)})(), "scale")
    now = datetime.now(UTC).isoformat()
    for quantity, metadata in ((3, SHARED), (40, {"tenant_id": "other"})):
        client.post("/api/v1/usage/events", headers=bearer(key), json={"events": [
            {"metric": "api_calls", "quantity": quantity, "timestamp": now,
             "idempotency_key": uuid.uuid4().hex, "metadata": metadata}]})
    _tag_everything(client, 700)  # another org (not this provider's) with the same value
    usage = client.get(f"/partner/v1/orgs/{org_id}/usage", query_string=FILTER,
                       headers=headers)
    assert usage.status_code == 200, usage.get_json()
    assert usage.get_json()["metrics"]["api_calls"]["period_total"] == 3
    listed = client.get("/partner/v1/orgs", query_string=FILTER, headers=headers).get_json()
    assert [o["id"] for o in listed["data"]] == [org_id]
    bad = client.get(f"/partner/v1/orgs/{org_id}/usage?metadata[a]=1&metadata[b]=2",
                     headers=headers)
    assert bad.status_code == 400


def test_dashboard_pages_show_only_their_orgs_metadata(client):
    org_a, people_a = api_org("starter", owner="owner", bob="member")
    org_b, people_b = api_org("starter", owner="owner")
    login(client, people_b["owner"])
    made = post(client, f"/o/{org_b.slug}/api-keys",
                {"name": "b key", "scopes": ["usage:write"], "metadata": "tenant_id=from-b"})
    assert made.status_code == 201
    client.post("/logout", data={})
    login(client, people_a["owner"])
    made = post(client, f"/o/{org_a.slug}/api-keys",
                {"name": "a key", "scopes": ["usage:write"],
                 "metadata": "tenant_id=from-a\nteam=billing"})
    assert made.status_code == 201, made.get_data(as_text=True)
    page = client.get(f"/o/{org_a.slug}/api-keys").get_data(as_text=True)
    assert "from-a" in page and "billing" in page and "from-b" not in page
    stored = factories.execute(
        "SELECT c.org_id, m.key, m.value FROM api_key_metadata m JOIN org_credentials c"
        " ON c.org_id = m.org_id AND c.id = m.credential_id WHERE c.name = 'a key'"
        " AND c.org_id = :o ORDER BY 2", o=org_a.id).all()
    assert [(r.key, r.value) for r in stored] == [("team", "billing"), ("tenant_id", "from-a")]
    created = factories.execute("SELECT details FROM audit_events WHERE org_id = :o"
                                " AND action = 'apikey.create'", o=org_a.id).scalar_one()
    assert created["after"]["metadata"] == {"tenant_id": "from-a", "team": "billing"}

    factories.execute("INSERT INTO member_metadata (org_id, user_id, key, value)"
                      " VALUES (:o, :u, 'tenant_id', 'member-of-a')",
                      o=org_a.id, u=people_a["bob"].id)
    detail = client.get(f"/o/{org_a.slug}/members/{people_a['bob'].id}")
    assert detail.status_code == 200 and "member-of-a" in detail.get_data(as_text=True)
    # B's member id under A's slug reads as missing.
    assert client.get(f"/o/{org_a.slug}/members/{people_b['owner'].id}").status_code == 404


@pytest.mark.parametrize(("lines", "says"), [
    ("no equals sign", "write key=value"),
    ("bad key=1", "is not valid"),
    ("a=1\na=2", "given twice"),
    ("a=" + "x" * 501, "longer than 500"),
    ("a=tab\there", "control characters"),
    ("\n".join(f"k{n}=v" for n in range(21)), "at most 20 keys"),
])
def test_bad_key_metadata_in_the_form_creates_no_key(client, lines, says):
    org, people = api_org("starter", owner="owner")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/api-keys",
                    {"name": "k", "scopes": ["usage:write"], "metadata": lines})
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM org_credentials WHERE org_id = :o"
                             " AND kind = 'api_key'", o=org.id).scalar_one() == 0


def test_staff_see_an_orgs_metadata_read_only(client, two_orgs):
    (org_a, _, _), _ = two_orgs
    staff = factories.UserFactory()
    factories.make_staff(staff)
    login(client, staff)
    page = client.get(f"/admin/orgs/{org_a.id}")
    assert page.status_code == 200 and "shared-7" in page.get_data(as_text=True)
    # Not staff: the definer function refuses too.
    client.post("/logout", data={})
    login(client, factories.UserFactory())
    assert client.get(f"/admin/orgs/{org_a.id}").status_code in (403, 404)
