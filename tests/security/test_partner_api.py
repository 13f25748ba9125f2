"""Partner provisioning API: idempotency, provider isolation, lifecycle, bad input."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from dashboard.partner.credentials import create_provider
from tests import factories
from tests.helpers import login
from tests.security.test_schema_guard import tenant_tables


@pytest.fixture
def provider(app, admin_sessions):
    with admin_sessions() as session, session.begin():
        found, secret = create_provider(session, app.config["SECRET_KEY"],
                                        f"Provider {uuid.uuid4().hex[:6]}", grace_days=14)
    return found, {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def other_provider(app, admin_sessions):
    with admin_sessions() as session, session.begin():
        found, secret = create_provider(session, app.config["SECRET_KEY"], "Other")
    return found, {"Authorization": f"Bearer {secret}"}


def body(**overrides):
    slug = overrides.pop("slug", f"p-{uuid.uuid4().hex[:10]}")
    return {"name": "Customer Co", "slug": slug, "plan": "starter",
            "owner_email": f"owner-{slug}@example.com", **overrides}


def provision(client, headers, external_id, payload):
    return client.post(f"/partner/v1/orgs/{external_id}/provision", json=payload, headers=headers)


def org_rows(admin_engine, org_id) -> dict:
    """Every row of one org in every tenant table, as the superuser sees it."""
    from sqlalchemy import text

    dump = {}
    with admin_engine.connect() as conn:
        for table in tenant_tables(admin_engine):
            column = "id" if table == "organizations" else "org_id"
            dump[table] = sorted(
                str(r) for r in conn.execute(text(f"SELECT * FROM {table} WHERE {column} = :o"),
                                             {"o": org_id})
            )
    return dump


def test_wrong_or_missing_credentials_are_401_json(client, provider):
    for headers in ({}, {"Authorization": "Bearer nope"},
                    {"Authorization": "Bearer tdp_aaaaaaaaaaaa_" + "x" * 43},
                    {"Authorization": provider[1]["Authorization"][:-2] + "zz"}):
        response = client.get("/partner/v1/orgs", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"


def test_provision_is_idempotent_and_conflicts_on_a_different_body(client, provider):
    _, headers = provider
    payload = body()
    first = provision(client, headers, "cust-1", payload)
    assert first.status_code == 201 and first.json["created"] is True
    again = provision(client, headers, "cust-1", payload)
    assert again.status_code == 200 and again.json["created"] is False
    assert again.json["org"]["id"] == first.json["org"]["id"]
    conflict = provision(client, headers, "cust-1", {**payload, "name": "Another Name"})
    assert conflict.status_code == 409 and conflict.json["error"]["code"] == "conflict"
    orgs = client.get("/partner/v1/orgs", headers=headers).json["data"]
    assert [o["external_id"] for o in orgs] == ["cust-1"]


def test_ten_concurrent_identical_calls_make_one_org(app, provider):
    _, headers = provider
    payload = body()

    def call(_):
        return provision(app.test_client(), headers, "concurrent-1", payload)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(call, range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json["org"]["id"] for r in responses}) == 1
    count = factories.execute("SELECT count(*) FROM organizations WHERE slug = :s",
                              s=payload["slug"]).scalar()
    assert count == 1


def test_a_provider_never_sees_or_changes_another_providers_orgs(
    client, provider, other_provider, admin_engine
):
    _, mine = provider
    _, theirs = other_provider
    created = provision(client, theirs, "theirs-1", body(name="Secret Customer")).json["org"]
    before = org_rows(admin_engine, created["id"])
    assert "Secret Customer" not in client.get("/partner/v1/orgs", headers=mine).get_data(True)
    org_url = f"/partner/v1/orgs/{created['id']}"
    assert client.get(org_url, headers=mine).status_code == 404
    assert client.patch(org_url, json={"name": "Pwned", "active": False},
                        headers=mine).status_code == 404
    assert client.delete(org_url, headers=mine).status_code == 404
    # The same external id is a separate namespace per provider.
    assert provision(client, mine, "theirs-1", body()).status_code == 201
    assert org_rows(admin_engine, created["id"]) == before


def test_patch_suspends_and_reactivates_and_members_feel_it(app, client, provider):
    _, headers = provider
    created = provision(client, headers, "life-1", body()).json["org"]
    member = factories.UserFactory()
    factories.MembershipFactory(org_id=uuid.UUID(created["id"]), user_id=member.id, role="admin")
    browser = app.test_client()
    login(browser, member)
    home = f"/o/{created['slug']}/"
    assert browser.get(home).status_code == 200
    suspended = client.patch(f"/partner/v1/orgs/{created['id']}", json={"active": False},
                             headers=headers)
    assert suspended.status_code == 200 and suspended.json["org"]["status"] == "suspended"
    assert browser.get(home).status_code == 403
    # The provider still reaches its suspended org.
    assert client.get(f"/partner/v1/orgs/{created['id']}", headers=headers).status_code == 200
    assert client.patch(f"/partner/v1/orgs/{created['id']}", json={"active": True},
                        headers=headers).json["org"]["active"] is True
    assert browser.get(home).status_code == 200
    renamed = client.patch(f"/partner/v1/orgs/{created['id']}",
                           json={"name": "Renamed Co", "plan": "growth"}, headers=headers)
    assert renamed.json["org"]["name"] == "Renamed Co" and renamed.json["org"]["plan"] == "growth"
    actions = factories.execute("SELECT action FROM audit_events WHERE org_id = :o ORDER BY at",
                                o=created["id"]).scalars().all()
    assert {"org.suspend", "org.reactivate", "org.update"} <= set(actions)


def test_delete_schedules_a_purge_after_the_providers_grace(client, provider):
    _, headers = provider
    created = provision(client, headers, "gone-1", body()).json["org"]
    response = client.delete(f"/partner/v1/orgs/{created['id']}", headers=headers)
    assert response.status_code == 202
    days = factories.execute(
        "SELECT extract(day FROM delete_after - now()) FROM organizations WHERE id = :o",
        o=created["id"]).scalar()
    assert 13 <= days <= 14


@pytest.mark.parametrize(
    "payload, status, code",
    [
        (body(plan="platinum"), 422, "unknown_plan"),
        (body(slug="Bad Slug"), 422, "invalid_request"),
        (body(name="x" * 101), 422, "invalid_request"),
        (body(owner_email="not-an-email"), 422, "invalid_request"),
        (body(surprise=True), 422, "invalid_request"),
        (body(settings={"k": "v" * 9000}), 422, "invalid_request"),
        ([1, 2, 3], 400, "malformed_json"),
    ],
)
def test_bad_input_is_a_4xx_json_and_changes_nothing(client, provider, payload, status, code):
    _, headers = provider
    before = factories.execute("SELECT count(*) FROM organizations").scalar()
    response = provision(client, headers, "bad-1", payload)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert factories.execute("SELECT count(*) FROM organizations").scalar() == before


def test_malformed_and_oversized_bodies(client, provider):
    _, headers = provider
    raw = client.post("/partner/v1/orgs/x/provision", data="{not json",
                      headers={**headers, "Content-Type": "application/json"})
    assert raw.status_code == 400 and raw.json["error"]["code"] == "malformed_json"
    form = client.post("/partner/v1/orgs/x/provision", data="a=b", headers=headers)
    assert form.status_code == 415
    huge = client.post("/partner/v1/orgs/x/provision", data="x" * (11 * 1024 * 1024),
                       headers={**headers, "Content-Type": "application/json"})
    assert huge.status_code == 413 and "error" in huge.json
    bad_id = provision(client, headers, "has space", body())
    assert bad_id.status_code in (400, 404)


def test_usage_for_billing_is_readable_by_the_provider_even_when_suspended(
    client, provider, other_provider
):
    _, headers = provider
    _, other = other_provider
    created = provision(client, headers, "bill-1", body()).json["org"]
    for day, calls in (("2026-03-01", 5), ("2026-03-02", 7), ("2026-04-01", 100)):
        factories.execute("INSERT INTO usage_daily (org_id, metric, day, total)"
                          " VALUES (:o, 'api_calls', :d, :t)", o=created["id"], d=day, t=calls)
    factories.execute("INSERT INTO usage_daily (org_id, metric, day, total)"
                      " VALUES (:o, 'seats', '2026-03-02', 9)", o=created["id"])
    client.patch(f"/partner/v1/orgs/{created['id']}", json={"active": False}, headers=headers)
    url = (f"/partner/v1/orgs/{created['id']}/usage"
           "?starting_on=2026-03-01&ending_before=2026-04-01")
    response = client.get(url, headers=headers)
    assert response.status_code == 200 and response.json["status"] == "suspended"
    metrics = response.json["metrics"]
    assert metrics["api_calls"]["period_total"] == 12
    assert metrics["seats"]["period_total"] == 9
    assert client.get(url, headers=other).status_code == 404
    for query in ("starting_on=2026-03-01", "starting_on=x&ending_before=y",
                  "starting_on=2026-03-02&ending_before=2026-03-01",
                  "starting_on=2020-01-01&ending_before=2026-01-01"):
        bad = client.get(f"/partner/v1/orgs/{created['id']}/usage?{query}", headers=headers)
        assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_range"


def test_the_provider_downloads_a_verifiable_export(client, provider, other_provider, tmp_path):
    from dashboard.lifecycle import export

    _, headers = provider
    _, other = other_provider
    created = provision(client, headers, "export-1", body()).json["org"]
    response = client.get(f"/partner/v1/orgs/{created['id']}/export", headers=headers)
    assert response.status_code == 200
    path = tmp_path / "export.zip"
    path.write_bytes(response.data)
    assert export.verify_export(path)["organizations"] == 1
    assert client.get(f"/partner/v1/orgs/{created['id']}/export",
                      headers=other).status_code == 404


def test_provisioning_invites_the_first_owner_by_real_mail(
    database_urls, tmp_path, smtp_server, admin_sessions
):
    """The invitation leaves over SMTP; following it makes the invitee the org's owner."""
    from tests.conftest import make_app

    mailing_app = make_app(database_urls, tmp_path, SMTP_URL=smtp_server.url,
                           BASE_URL="http://testserver")
    try:
        with admin_sessions() as session, session.begin():
            _, secret = create_provider(session, mailing_app.config["SECRET_KEY"], "Mailer")
        client = mailing_app.test_client()
        payload = body()
        created = provision(client, {"Authorization": f"Bearer {secret}"}, "mail-1", payload)
        assert created.status_code == 201
        assert created.json["owner_invitation"]["email"] == payload["owner_email"]
        message = smtp_server.wait_for(to=payload["owner_email"])
        link = smtp_server.first_link(message, "/invitations/")
        path = link.removeprefix("http://testserver")
        page = client.get(path)
        assert page.status_code == 200
        # A retry neither duplicates the invitation nor sends another mail.
        again = provision(client, {"Authorization": f"Bearer {secret}"}, "mail-1", payload)
        assert again.status_code == 200
        assert again.json["owner_invitation"] == created.json["owner_invitation"]
        count = factories.execute("SELECT count(*) FROM invitations WHERE org_id = :o",
                                  o=created.json["org"]["id"]).scalar()
        assert count == 1
    finally:
        mailing_app.extensions["tenantdesk.db"].dispose()


def test_provisioning_returns_a_working_initial_api_key_once(client, provider):
    _, headers = provider
    payload = body()
    first = provision(client, headers, "key-1", payload)
    key = first.json["initial_api_key"]
    assert key["secret"].startswith("td_live_")
    me = client.get("/api/v1/org", headers={"Authorization": f"Bearer {key['secret']}"})
    assert me.status_code == 200 and me.json["slug"] == payload["slug"]
    again = provision(client, headers, "key-1", payload)
    assert again.json["initial_api_key"] == key  # the same key, replayed, not a second one
    count = factories.execute("SELECT count(*) FROM org_credentials WHERE org_id = :o"
                              " AND kind = 'api_key'", o=first.json["org"]["id"]).scalar()
    assert count == 1
    stored = factories.execute("SELECT secret_hash FROM org_credentials WHERE org_id = :o",
                               o=first.json["org"]["id"]).scalar()
    assert key["secret"].encode() not in bytes(stored)
