"""Suspension, deletion with grace, export and purge — checked as the table owner would."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import text

from dashboard import tenancy
from dashboard.lifecycle import export, service
from dashboard.table_kinds import NOT_EXPORTED
from tests import factories
from tests.helpers import csrf_token, login, post
from tests.security.test_schema_guard import tenant_tables


def org_column(table):
    return "id" if table == "organizations" else "org_id"


def counts_for(admin_engine, org_id) -> dict[str, int]:
    """Row counts of one org in every tenant table, read as a superuser (through no RLS)."""
    with admin_engine.connect() as conn:
        return {
            table: conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE {org_column(table)} = :o"), {"o": org_id}
            ).scalar()
            for table in tenant_tables(admin_engine)
        }


@pytest.fixture
def busy_org():
    org, people = factories.org_with_members(owner="owner", bob="member", cy="admin")
    factories.execute("INSERT INTO roles (org_id, key, name, permissions)"
                      " VALUES (:o, 'helper', 'Helper', '{org.view}')", o=org.id)
    for i in range(4):
        factories.execute("INSERT INTO audit_events (org_id, actor, action)"
                          " VALUES (:o, 'seed', :a)", o=org.id, a=f"seed.{i}")
    return org, people


def make_staff(user):
    factories.execute("UPDATE users SET is_staff = true WHERE id = :u", u=user.id)


def test_suspension_cuts_the_browser_session_on_the_next_request_and_keeps_data(
    client, busy_org, runtime_sessions, admin_engine
):
    org, people = busy_org
    login(client, people["bob"])
    assert client.get(f"/o/{org.slug}/").status_code == 200
    before = counts_for(admin_engine, org.id)
    staff = factories.UserFactory()
    make_staff(staff)
    context = tenancy.TenantContext(user_id=staff.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        assert service.change(session, org.id, "suspend", actor=staff.email,
                              reason="unpaid invoices") == "suspended"
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 403
    assert "This organization is suspended" in response.get_data(as_text=True)
    assert counts_for(admin_engine, org.id)["memberships"] == before["memberships"]
    with tenancy.scoped_session(runtime_sessions, context) as session:
        assert service.change(session, org.id, "reactivate", actor=staff.email) == "active"
    assert client.get(f"/o/{org.slug}/").status_code == 200
    actions = factories.execute(
        "SELECT action FROM audit_events WHERE org_id = :o AND action LIKE 'org.%'"
        " ORDER BY at", o=org.id).scalars().all()
    assert actions[-2:] == ["org.suspend", "org.reactivate"]


def test_members_and_strangers_cannot_suspend(busy_org, runtime_sessions):
    org, people = busy_org
    stranger = factories.UserFactory()
    for user in (people["owner"], people["cy"], stranger):
        context = tenancy.TenantContext(user_id=user.id, org_id=org.id)
        with (
            pytest.raises(service.LifecycleRefused),
            tenancy.scoped_session(runtime_sessions, context) as session,
        ):
            service.change(session, org.id, "suspend", actor=user.email)
    status = factories.execute("SELECT status FROM organizations WHERE id = :o", o=org.id)
    assert status.scalar() == "active"


def test_owner_schedules_and_cancels_deletion_through_the_page(client, busy_org):
    org, people = busy_org
    login(client, people["owner"])
    page = client.get(f"/o/{org.slug}/settings")
    assert page.status_code == 200
    wrong = post(client, f"/o/{org.slug}/settings/deletion", {"confirm_slug": "nope"})
    assert wrong.status_code == 400
    assert factories.execute("SELECT delete_after FROM organizations WHERE id = :o",
                             o=org.id).scalar() is None
    ok = post(client, f"/o/{org.slug}/settings/deletion", {"confirm_slug": org.slug})
    assert ok.status_code == 303
    assert factories.execute("SELECT delete_after > now() + interval '29 days'"
                             " FROM organizations WHERE id = :o", o=org.id).scalar()
    assert post(client, f"/o/{org.slug}/settings/deletion/cancel").status_code == 303
    assert factories.execute("SELECT delete_after FROM organizations WHERE id = :o",
                             o=org.id).scalar() is None


def test_admins_cannot_reach_the_owner_settings(client, busy_org):
    org, people = busy_org
    login(client, people["cy"])
    assert client.get(f"/o/{org.slug}/settings").status_code == 403
    token = csrf_token(client, "/switcher")
    response = client.post(f"/o/{org.slug}/settings/deletion",
                           data={"csrf_token": token, "confirm_slug": org.slug})
    assert response.status_code == 403


def test_export_has_every_row_of_the_org_and_nothing_else(client, busy_org, admin_engine):
    org, people = busy_org
    other, _ = factories.org_with_members(owner="owner", z="member")
    login(client, people["owner"])
    expected = counts_for(admin_engine, org.id)  # the export's own audit row comes after it
    left_out = {t: expected.pop(t) for t in NOT_EXPORTED}  # a cache's key, not the org's data
    assert left_out == {"member_revisions": 1}  # there, and left out on purpose
    response = client.get(f"/o/{org.slug}/export.zip")
    assert response.status_code == 200
    path = factories_tmp_zip(response.data)
    counts = export.verify_export(path)
    assert {t: counts.get(t, 0) for t in expected} == expected
    assert not set(counts) & NOT_EXPORTED
    with zipfile.ZipFile(path) as archive:
        blob = b"".join(archive.read(n) for n in archive.namelist())
    assert str(other.id).encode() not in blob
    assert str(org.id).encode() in blob


def factories_tmp_zip(data: bytes):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "export.zip"
    path.write_bytes(data)
    return path


def test_tampered_export_fails_verification(client, busy_org):
    org, people = busy_org
    login(client, people["owner"])
    original = zipfile.ZipFile(io.BytesIO(client.get(f"/o/{org.slug}/export.zip").data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as forged:
        for name in original.namelist():
            data = original.read(name)
            if name == "memberships.json":
                data = data.replace(b"member", b"owner")
            forged.writestr(name, data)
    with pytest.raises(ValueError, match="checksum"):
        export.verify_export(factories_tmp_zip(buffer.getvalue()))


def test_purge_removes_every_row_keeps_others_and_certifies(
    busy_org, admin_engine, runtime_sessions, tmp_path
):
    org, people = busy_org
    other, _ = factories.org_with_members(owner="owner", z="member")
    other_before = counts_for(admin_engine, other.id)
    before = counts_for(admin_engine, org.id)
    # Not due yet: nothing happens.
    assert org.id not in {r.org_id for r in service.purge_due(runtime_sessions, tmp_path)}
    assert counts_for(admin_engine, org.id) == before
    factories.execute("UPDATE organizations SET delete_after = now() - interval '1 minute',"
                      " status = 'suspended' WHERE id = :o", o=org.id)
    reports = [r for r in service.purge_due(runtime_sessions, tmp_path) if r.org_id == org.id]
    assert len(reports) == 1
    after = counts_for(admin_engine, org.id)
    assert set(after.values()) == {0}
    assert counts_for(admin_engine, other.id) == other_before
    cert = factories.execute(
        "SELECT row_counts_before, row_counts_after, export_sha256, export_file"
        " FROM deletion_certificates WHERE org_id = :o", o=org.id).one()
    assert cert.row_counts_before["memberships"] == before["memberships"] == 3
    assert set(cert.row_counts_after.values()) == {0}
    import hashlib
    from pathlib import Path

    assert hashlib.sha256(Path(cert.export_file).read_bytes()).hexdigest() == cert.export_sha256
    exported = export.verify_export(Path(cert.export_file))
    assert exported["memberships"] == 3 and exported["audit_events"] >= 4
    # Running the job again is harmless.
    assert [r for r in service.purge_due(runtime_sessions, tmp_path) if r.org_id == org.id] == []


def test_export_credentials_are_only_for_due_orgs(busy_org, runtime_sessions):
    org, people = busy_org
    from sqlalchemy.exc import DBAPIError

    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    with (
        pytest.raises(DBAPIError, match="not allowed"),
        tenancy.scoped_session(runtime_sessions, context) as session,
    ):
        session.execute(text("SELECT app_issue_export_credential(:o)"), {"o": org.id})


def test_jobs_run_command_purges_due_orgs(database_urls, tmp_path, admin_engine):
    """The cron entry point itself, run as a separate process against the test database."""
    import os
    import subprocess
    import sys

    org, _ = factories.org_with_members(owner="owner")
    factories.execute("UPDATE organizations SET delete_after = now() - interval '1 second'"
                      " WHERE id = :o", o=org.id)
    env = {**os.environ, "DATABASE_URL": database_urls.runtime,
           "MIGRATION_DATABASE_URL": database_urls.owner, "INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "dashboard.cli", "jobs", "run"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"purged {org.slug}" in done.stdout
    assert set(counts_for(admin_engine, org.id).values()) == {0}
    again = subprocess.run([sys.executable, "-m", "dashboard.cli", "jobs", "run"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and f"purged {org.slug}" not in again.stdout
