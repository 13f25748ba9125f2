"""Export, purge and the JSON API on a tenant schema: the same answers as on the shared tier,
and a purge leaves nothing of the org in any tier."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

from sqlalchemy import text

from dashboard.lifecycle import export, service
from dashboard.tiers import catalogue, rollout
from tests import factories
from tests import tiers as t
from tests.helpers import login


def usage_org():
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "enterprise")
    today = dt.date.today()
    for n in range(10):
        factories.usage_daily(org, "api_calls", today - dt.timedelta(days=n), 100 + n)
        factories.usage_daily(org, "seats", today - dt.timedelta(days=n), 3 + n)
        factories.usage_event(org, "api_calls", 100 + n,
                              dt.datetime.now(dt.UTC) - dt.timedelta(days=n))
    return org, people


def exported(client, org) -> dict[str, int]:
    response = client.get(f"/o/{org.slug}/export.zip")
    assert response.status_code == 200
    path = Path(tempfile.mkdtemp()) / "export.zip"
    path.write_bytes(io.BytesIO(response.data).getvalue())
    return export.verify_export(path)


def test_export_and_api_answer_the_same_on_a_tenant_schema(client, database_urls, admin_engine):
    org, people = usage_org()
    login(client, people["owner"])
    key, _ = factories.api_key(org, scopes=("usage:read",))
    api = {"Authorization": f"Bearer {key}"}
    seats = "/api/v1/usage/series?range=30&metric=seats"  # API calls count themselves
    series = client.get(seats, headers=api)
    assert series.status_code == 200
    before = exported(client, org)
    assert before["usage_daily"] == 20 and before["usage_events"] == 11

    t.move(database_urls, org, "schema")
    again = client.get(seats, headers=api)
    assert again.status_code == 200
    assert again.get_json() == series.get_json()
    after = exported(client, org)
    assert after["usage_daily"] == before["usage_daily"]
    assert after["usage_events"] == before["usage_events"] + 1  # this call, now in the schema
    assert t.counts(admin_engine, org)["usage_events"] == 0
    t.move(database_urls, org, "shared")


def test_purging_an_org_on_a_tenant_schema_leaves_nothing_in_any_tier(
    database_urls, admin_engine, runtime_sessions, tmp_path
):
    org, _ = usage_org()
    other, _ = usage_org()
    t.move(database_urls, org, "schema")
    schema = catalogue.schema_name(org.id)
    assert t.counts(admin_engine, org, schema)["usage_daily"] == 20
    others = t.counts(admin_engine, other)
    factories.execute("UPDATE organizations SET delete_after = now() - interval '1 minute',"
                      " status = 'suspended' WHERE id = :o", o=org.id)
    reports = [r for r in service.purge_due(runtime_sessions, tmp_path) if r.org_id == org.id]
    assert len(reports) == 1
    export_file = factories.execute(
        "SELECT export_file FROM deletion_certificates WHERE org_id = :o", o=org.id
    ).scalar_one()
    archive = export.verify_export(Path(export_file))
    assert archive["usage_daily"] == 20  # the export before the purge read the tier
    assert set(t.counts(admin_engine, org, schema).values()) == {0}
    assert set(t.counts(admin_engine, org).values()) == {0}
    assert t.route(admin_engine, org) is None
    assert t.counts(admin_engine, other) == others
    with admin_engine.connect() as conn:
        left = conn.execute(text(f"SELECT count(*) FROM {schema}.usage_events")).scalar_one()
    assert left == 0
    rollout.migrate_tiers(database_urls.owner)  # drops the empty, unrouted schema
    with admin_engine.connect() as conn:
        assert conn.execute(text("SELECT to_regnamespace(:s)"), {"s": schema}).scalar() is None


def test_scim_provisions_and_deprovisions_on_a_tenant_schema(client, database_urls,
                                                             admin_engine):
    from tests.scim.conftest import ScimClient, scim_org

    org, people, domain, token, _ = scim_org()
    scim = ScimClient(client, token)
    before = scim.create_user(f"ana@{domain}")
    t.move(database_urls, org, "schema")
    # SCIM's own tables are cell tables (classified from the catalogue, nobody listed them).
    assert {"scim_users", "scim_groups"} <= set(t.cell_tables(admin_engine))
    assert t.counts(admin_engine, org, catalogue.schema_name(org.id))["scim_users"] == 1
    assert scim.get(f"/Users/{before['id']}").get_json()["userName"] == f"ana@{domain}"
    created = scim.create_user(f"bo@{domain}")
    listed = scim.get("/Users").get_json()
    assert {u["userName"] for u in listed["Resources"]} == {f"ana@{domain}", f"bo@{domain}"}
    gone = scim.patch(f"/Users/{created['id']}",
                      {"op": "replace", "path": "active", "value": False})
    assert gone.status_code in (200, 204)
    assert factories.execute(
        "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.org_id = :o AND lower(u.email) = :e", o=org.id, e=f"bo@{domain}"
    ).scalar_one() == 0
    t.move(database_urls, org, "shared")
    assert scim.get(f"/Users/{created['id']}").get_json()["active"] is False
