"""What a tenant sees of its tier: the same pages on every tier, a maintenance page while its
tier is behind, read-only during a move, 429 past its concurrency cap, a clear answer when
its statement timeout cuts a query."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from dashboard import tenancy
from dashboard.tiers import catalogue, rollout, routing
from dashboard.tiers.moves import Mover
from tests import factories
from tests import tiers as t
from tests.conftest import make_app
from tests.helpers import csrf_token, login

_CSRF_VALUE = re.compile(r'(X-CSRFToken": "|name="csrf_token" (?:type="hidden" )?value=")[^"]+')


def page(client, path) -> str:
    """A page's HTML without its per-render CSRF token: what must not depend on the tier."""
    return _CSRF_VALUE.sub(r"\1-", client.get(path).get_data(as_text=True))


def usage_post(client, org):
    body = {"events": [{"metric": "api_calls", "quantity": 1,
                        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                        "idempotency_key": factories.unique("k")}]}
    return client.post("/api/v1/usage/events", data=json.dumps(body),
                       headers={"X-CSRFToken": csrf_token(client, "/switcher")},
                       content_type="application/json")


@pytest.fixture
def owner(client):
    org, people = factories.org_with_members(owner="owner")
    factories.execute("UPDATE organizations SET plan = 'enterprise' WHERE id = :o", o=org.id)
    login(client, people["owner"])
    return client, org, people["owner"]


def test_pages_answer_the_same_on_every_tier(owner, admin_engine, database_urls):
    client, org, _ = owner
    assert usage_post(client, org).status_code in (200, 201, 202)
    pages = [f"/o/{org.slug}/usage", f"/o/{org.slug}/usage/data.json?days=30",
             f"/o/{org.slug}/"]  # the home reads the rollups inside its own statement
    before = [page(client, p) for p in pages]
    assert 'class="usage-home"' in before[-1]
    events = t.counts(admin_engine, org)["usage_events"]
    t.move(database_urls, org, "schema")
    assert [page(client, p) for p in pages] == before
    assert usage_post(client, org).status_code in (200, 201, 202)  # writes land in the schema
    in_schema = t.counts(admin_engine, org, catalogue.schema_name(org.id))["usage_events"]
    assert in_schema > events
    assert t.counts(admin_engine, org)["usage_events"] == 0
    t.move(database_urls, org, "shared")
    assert t.counts(admin_engine, org)["usage_events"] == in_schema


def test_a_tier_behind_the_code_gets_a_maintenance_page_until_it_is_migrated(
    app, database_urls
):
    orgs = []
    for _ in range(2):
        org, people = factories.org_with_members(owner="owner")
        t.move(database_urls, org, "schema")
        client = app.test_client()
        login(client, people["owner"])
        orgs.append((org, client))
    for org, _ in orgs:  # a new migration ran on the shared schema; these tiers lag behind
        factories.execute("UPDATE tenant_routes SET revision = 'older' WHERE org_id = :o",
                          o=org.id)
    first, second = sorted(orgs, key=lambda pair: pair[0].slug)
    for org, client in orgs:
        page = client.get(f"/o/{org.slug}/usage")
        assert page.status_code == 503
        assert page.headers["Retry-After"]
        assert "being upgraded" in page.get_data(as_text=True)
        api = client.get(f"/o/{org.slug}/usage/data.json?days=7",
                         headers={"Accept": "application/json"})
        assert api.status_code == 503
        assert api.get_json()["error"]["code"] == "maintenance"

    report = rollout.migrate_tiers(database_urls.owner, tenants="1")
    status = {r.slug: r.status for r in report}
    assert status[first[0].slug] == "migrated" and status[second[0].slug] == "behind"
    assert first[1].get(f"/o/{first[0].slug}/usage").status_code == 200
    assert second[1].get(f"/o/{second[0].slug}/usage").status_code == 503

    report = rollout.migrate_tiers(database_urls.owner, org=second[0].slug)
    assert {r.slug: r.status for r in report}[second[0].slug] == "migrated"
    assert second[1].get(f"/o/{second[0].slug}/usage").status_code == 200
    for org, _ in orgs:
        t.move(database_urls, org, "shared")


def test_during_a_move_pages_read_and_writes_answer_503_with_retry_after(
    owner, database_urls
):
    client, org, _ = owner
    mover = Mover(database_urls.owner)
    try:
        move_id = mover.start(org.slug, "schema", requested_by="test")
        mover._freeze(mover.load(move_id))
        page = client.get(f"/o/{org.slug}/usage")
        assert page.status_code == 200
        assert 'data-testid="move-banner"' in page.get_data(as_text=True)
        refused = usage_post(client, org)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "30"
        assert refused.get_json()["error"]["code"] == "read_only_while_moving"
        # The control plane does not move: its writes go on (and sign-ins, session touches).
        token = csrf_token(client, f"/o/{org.slug}/settings")
        form = client.post(f"/o/{org.slug}/settings/staff-access", data={"csrf_token": token})
        assert form.status_code in (302, 303)
        assert factories.execute("SELECT staff_access_allowed FROM organizations WHERE id = :o",
                                 o=org.id).scalar() is False
        # Another org writes its own cell rows meanwhile.
        other_org, other_people = factories.org_with_members(owner="owner")
        factories.execute("UPDATE organizations SET plan = 'enterprise' WHERE id = :o",
                          o=other_org.id)
        other = client.application.test_client()
        login(other, other_people["owner"])
        assert usage_post(other, other_org).status_code in (200, 201, 202)
        mover.abort(move_id)
    finally:
        mover.close()
    assert 'data-testid="move-banner"' not in client.get(f"/o/{org.slug}/usage").get_data(
        as_text=True)
    assert usage_post(client, org).status_code in (200, 201, 202)


def test_past_its_concurrency_cap_an_org_gets_429(owner):
    client, org, _ = owner
    factories.execute(
        "INSERT INTO tenant_routes (org_id, max_concurrent_requests) VALUES (:o, 2)", o=org.id)
    routing.CAP.enter(str(org.id), 10)
    routing.CAP.enter(str(org.id), 10)  # two requests in flight elsewhere in this process
    try:
        busy = client.get(f"/o/{org.slug}/usage")
        assert busy.status_code == 429
        assert busy.headers["Retry-After"] == "1"
    finally:
        routing.CAP.leave(str(org.id))
        routing.CAP.leave(str(org.id))
    assert client.get(f"/o/{org.slug}/usage").status_code == 200
    assert routing.CAP.in_flight(str(org.id)) == 0  # every request gave its slot back


def test_streamed_downloads_give_their_slot_back(owner):
    """A download streams its rows after the response started, in a new transaction of the
    request's session: it must not take a slot (one leaked per download locked the org out
    with 429 after its cap was reached, as the route fuzzer found)."""
    client, org, _ = owner
    factories.put_on_plan(org, "enterprise")
    factories.execute(
        "INSERT INTO tenant_routes (org_id, max_concurrent_requests) VALUES (:o, 2)", o=org.id)
    for _ in range(3):
        for path in ("audit.csv", "audit.jsonl"):
            response = client.get(f"/o/{org.slug}/{path}")
            assert response.status_code == 200, path
            response.get_data()
            response.close()
    assert routing.CAP.in_flight(str(org.id)) == 0
    assert client.get(f"/o/{org.slug}/usage").status_code == 200


@pytest.fixture(scope="module")
def slow_app(database_urls, tmp_path_factory):
    """An app with one extra route that runs a deliberately slow query for an org."""
    app = make_app(database_urls, tmp_path_factory.mktemp("slow"))

    def slow(user_id, org_id):
        session = tenancy.bind_request(tenancy.TenantContext(user_id=user_id, org_id=org_id))
        session.execute(text("SELECT pg_sleep(2)"))
        return "finished"

    app.add_url_rule("/slow/<user_id>/<org_id>", view_func=slow)
    yield app
    app.extensions["tenantdesk.db"].dispose()


def test_the_statement_timeout_cuts_a_slow_query_with_a_clear_answer(slow_app, caplog):
    org, people = factories.org_with_members(owner="owner")
    factories.execute(
        "INSERT INTO tenant_routes (org_id, statement_timeout_ms) VALUES (:o, 200)", o=org.id)
    with caplog.at_level(logging.WARNING, logger="dashboard.tiers.web"):
        answer = slow_app.test_client().get(f"/slow/{people['owner'].id}/{org.id}")
    assert answer.status_code == 503
    assert "took longer than your plan" in answer.get_data(as_text=True)
    assert any(str(org.id) in r.getMessage() and "statement timeout" in r.getMessage()
               for r in caplog.records)
    factories.execute("DELETE FROM tenant_routes WHERE org_id = :o", o=org.id)
    assert slow_app.test_client().get(
        f"/slow/{people['owner'].id}/{org.id}").get_data(as_text=True) == "finished"


def test_pages_and_api_answer_the_same_on_a_dedicated_database(owner, admin_engine,
                                                               database_urls):
    from dashboard.permissions import ApiScope

    client, org, _ = owner
    assert usage_post(client, org).status_code in (200, 201, 202)
    pages = [f"/o/{org.slug}/usage", f"/o/{org.slug}/usage/data.json?days=30",
             f"/o/{org.slug}/usage.csv", f"/o/{org.slug}/members",
             f"/o/{org.slug}/"]  # there the home reads the rollups in a statement of their own
    key, _ = factories.api_key(org, scopes=[ApiScope.USAGE_READ.value])

    factories.usage_daily(org, "seats", datetime.now(UTC).date(), 12)

    def api():  # an API key is a principal of its own: the ticket carries its id (seats:
        # a metric the call itself does not count, unlike api_calls)
        answer = client.application.test_client().get(
            "/api/v1/usage/series?range=30&metric=seats",
            headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    before_api = api()  # first: each API call counts itself in today's api_calls
    before = [page(client, p) for p in pages]
    assert 'class="usage-home"' in before[-1]
    t.move(database_urls, org, "dedicated")
    assert t.counts(admin_engine, org)["usage_events"] == 0
    assert [page(client, p) for p in pages] == before
    assert api() == before_api
    dedicated_admin = t.dedicated_admin_engine(database_urls)
    try:
        events = t.counts(dedicated_admin, org)["usage_events"]
        assert usage_post(client, org).status_code in (200, 201, 202)  # writes land there
        assert t.counts(dedicated_admin, org)["usage_events"] > events
        assert t.counts(admin_engine, org)["usage_events"] == 0

        # Moving out: the dedicated side is read-only; pages read, writes answer 503.
        events = t.counts(dedicated_admin, org)["usage_events"]
        mover = Mover(database_urls.owner)
        try:
            move_id = mover.start(org.slug, "shared", requested_by="test")
            mover._freeze(mover.load(move_id))
            assert client.get(f"/o/{org.slug}/usage").status_code == 200
            refused = usage_post(client, org)
            assert refused.status_code == 503
            assert refused.get_json()["error"]["code"] == "read_only_while_moving"
            assert mover.run(move_id)["state"] == "done"
        finally:
            mover.close()
        assert t.counts(dedicated_admin, org)["usage_events"] == 0
    finally:
        dedicated_admin.dispose()
    assert t.counts(admin_engine, org)["usage_events"] == events
    assert usage_post(client, org).status_code in (200, 201, 202)


def test_a_dedicated_database_behind_gets_the_maintenance_page_until_migrated(owner,
                                                                              database_urls):
    client, org, _ = owner
    t.move(database_urls, org, "dedicated")
    factories.execute("UPDATE tenant_routes SET revision = 'older' WHERE org_id = :o", o=org.id)
    assert client.get(f"/o/{org.slug}/usage").status_code == 503
    rollout.migrate_tiers(database_urls.owner, org=org.slug)
    assert client.get(f"/o/{org.slug}/usage").status_code == 200
    t.move(database_urls, org, "shared")
