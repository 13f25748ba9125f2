"""`tenantdesk tenants ...` and `tenantdesk migrate --tenants/--org` end to end."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dashboard.cli import main
from tests import factories
from tests import tiers as t


@pytest.fixture
def cli(database_urls, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_urls.runtime)
    monkeypatch.setenv("MIGRATION_DATABASE_URL", database_urls.owner)

    def run(*args):
        return CliRunner().invoke(main, list(args))

    return run


def test_move_list_migrate_and_certificate_from_the_command_line(cli, admin_engine):
    org, _ = factories.org_with_members(owner="owner")
    factories.usage_daily(org, "api_calls", "2026-01-01", 5)

    moved = cli("tenants", "move", org.slug, "--to", "schema")
    assert moved.exit_code == 0, moved.output
    assert "verified" in moved.output and "usage_daily: 1 rows" in moved.output
    listed = cli("tenants", "list")
    assert listed.exit_code == 0, listed.output
    line = next(row for row in listed.output.splitlines() if org.slug in row)
    assert "schema" in line and "current" in line

    factories.execute("UPDATE tenant_routes SET revision = 'older' WHERE org_id = :o", o=org.id)
    assert "behind" in next(r for r in cli("tenants", "list").output.splitlines()
                            if org.slug in r)
    migrated = cli("migrate", "--org", org.slug)
    assert migrated.exit_code == 0, migrated.output
    assert f"migrated {org.slug}" in migrated.output
    assert t.route(admin_engine, org)["revision"] != "older"

    again = cli("tenants", "move", org.slug, "--to", "schema")
    assert again.exit_code != 0 and "already on the schema tier" in again.output
    assert cli("tenants", "abort", org.slug).exit_code != 0  # nothing open
    back = cli("tenants", "move", org.slug, "--to", "shared")
    assert back.exit_code == 0, back.output
    certificates = cli("tenants", "certificate", org.slug)
    assert certificates.output.count('"state": "done"') == 2


def test_refusals_are_clear(cli):
    assert "a number or 'all'" in cli("migrate", "--tenants", "some").output
    dedicated = cli("tenants", "move", "whatever", "--to", "dedicated", "--target", "DB_X")
    assert dedicated.exit_code != 0 and "DB_X (a dedicated database) is unset" in dedicated.output
    untargeted = cli("tenants", "move", "whatever", "--to", "dedicated")
    assert untargeted.exit_code != 0 and "needs --target" in untargeted.output
    unknown = cli("tenants", "move", "no-such-org", "--to", "schema")
    assert unknown.exit_code != 0 and "no organization" in unknown.output


def test_a_dedicated_database_from_the_command_line(cli, admin_engine, database_urls):
    org, _ = factories.org_with_members(owner="owner")
    factories.usage_daily(org, "api_calls", "2026-01-01", 5)
    ref = t.dedicated_database(database_urls)

    moved = cli("tenants", "move", org.slug, "--to", "dedicated", "--target", ref)
    assert moved.exit_code == 0, moved.output
    assert "dedicated tier" in moved.output and "usage_daily: 1 rows" in moved.output
    line = next(r for r in cli("tenants", "list").output.splitlines() if org.slug in r)
    assert "dedicated" in line and "current" in line and " 1 " in line  # its row, counted there

    factories.execute("UPDATE tenant_routes SET revision = 'older' WHERE org_id = :o", o=org.id)
    migrated = cli("migrate", "--org", org.slug)
    assert migrated.exit_code == 0, migrated.output
    assert f"migrated {org.slug}" in migrated.output
    assert t.route(admin_engine, org)["revision"] != "older"
    back = cli("tenants", "move", org.slug, "--to", "shared")
    assert back.exit_code == 0, back.output
