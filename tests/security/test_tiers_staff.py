"""Staff console: an org's tier, limits and moves; a requested move is audited and carried
out by the owner role, and the page shows its state."""

from __future__ import annotations

import os

from click.testing import CliRunner

from dashboard.cli import main
from dashboard.tiers.moves import Mover
from tests import factories
from tests import tiers as t
from tests.helpers import csrf_token, login


def request(client, org, to, target=""):
    token = csrf_token(client, f"/admin/orgs/{org.id}/tier")
    return client.post(f"/admin/orgs/{org.id}/tier/move",
                       data={"csrf_token": token, "to": to, "target": target})


def test_only_staff_see_an_orgs_tier(client, admin_engine):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    assert client.get(f"/admin/orgs/{org.id}/tier").status_code == 404
    assert client.post(f"/admin/orgs/{org.id}/tier/move", data={"to": "schema"}).status_code in (
        400, 404)
    assert t.route(admin_engine, org) is None


def test_staff_request_a_move_see_its_state_and_the_org_keeps_its_audit(
    client, database_urls, admin_engine
):
    org, _ = factories.org_with_members(owner="owner")
    staff = factories.UserFactory()
    factories.make_staff(staff)
    login(client, staff)
    page = client.get(f"/admin/orgs/{org.id}/tier").get_data(as_text=True)
    assert 'data-testid="tier">shared' in page
    assert "15000 ms" in page or "60000 ms" in page or "5000 ms" in page

    assert request(client, org, "dedicated").status_code == 400  # names no connection
    assert request(client, org, "schema", "TENANT_DB_X").status_code == 400  # not for a schema
    assert request(client, org, "shared").status_code == 409  # already there
    assert client.get(f"/admin/orgs/{org.id}/tier").status_code == 200
    answer = request(client, org, "schema")
    assert answer.status_code == 303
    assert request(client, org, "schema").status_code == 409  # one open move at a time
    page = client.get(f"/admin/orgs/{org.id}/tier").get_data(as_text=True)
    assert "requested" in page and f"staff:{staff.email}" in page
    assert "tenant.move.requested" in factories.execute(
        "SELECT array_agg(action) FROM audit_events WHERE org_id = :o", o=org.id
    ).scalar_one()

    env = {"MIGRATION_DATABASE_URL": database_urls.owner, "DATABASE_URL": database_urls.runtime}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = CliRunner().invoke(main, ["tenants", "run-requested"])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert result.exit_code == 0, result.output
    assert org.slug in result.output
    page = client.get(f"/admin/orgs/{org.id}/tier").get_data(as_text=True)
    assert 'data-testid="tier">schema' in page and ">done<" in page
    assert t.route(admin_engine, org)["tier"] == "schema"

    mover = Mover(database_urls.owner)
    try:
        mover.run(mover.start(org.slug, "shared", requested_by="test"))
    finally:
        mover.close()


def test_staff_request_a_move_to_a_dedicated_database_by_naming_its_variable(
        client, admin_engine):
    org, _ = factories.org_with_members(owner="owner")
    staff = factories.UserFactory()
    factories.make_staff(staff)
    login(client, staff)
    for bad in ("tenant_db", "1DB", "postgresql://u:secret@db/x", "X" * 64, "DB NAME"):
        answer = request(client, org, "dedicated", bad)
        assert answer.status_code == 400, bad
        assert "environment variable" in answer.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM tenant_moves WHERE org_id = :o",
                             o=org.id).scalar_one() == 0
    assert request(client, org, "dedicated", "TENANT_DB_ACME").status_code == 303
    row = factories.execute("SELECT to_tier, to_ref, state FROM tenant_moves WHERE org_id = :o",
                            o=org.id).one()
    assert tuple(row) == ("dedicated", "TENANT_DB_ACME", "requested")
    assert t.route(admin_engine, org) is None  # nothing moves until the owner role runs it
