"""An org exported, restored into a fresh database, and exported again: the same files."""

from __future__ import annotations

import json
import secrets
import zipfile
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import sessionmaker

from dashboard import migrate, provisioning, tenancy
from dashboard.lifecycle.export import write_export
from dashboard.ops.restore import RestoreRefused, restore_org
from tests import factories


def _export(sessionmaker, org, owner, path):
    context = tenancy.TenantContext(user_id=owner.id, org_id=org.id)
    with tenancy.scoped_session(sessionmaker, context) as session:
        return write_export(session, org.id, path)


def test_an_org_comes_back_from_its_export_byte_for_byte(app, database_urls, tmp_path):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.usage_event(org, "api_calls", 3, at=datetime.now(UTC), key="restore-1")
    factories.invitation(org, "restore.me@example.com")
    first = _export(app.extensions["tenantdesk.db"].sessionmaker, org, people["owner"],
                    tmp_path / "first.zip")
    assert sum(first.row_counts.values()) >= 4

    admin = make_url(database_urls.admin).set(database="postgres").render_as_string(
        hide_password=False)  # the same server as the suite's database
    name = f"tenantdesk_restore_{secrets.token_hex(4)}"
    urls = provisioning.bootstrap(admin, name)
    try:
        migrate.upgrade(urls.owner)
        target = create_engine(urls.admin)
        with target.begin() as db:  # the people exist (users are global, not exported)
            for person in people.values():
                db.execute(text("INSERT INTO users (id, email, name, password_hash)"
                                " VALUES (:i, :e, :n, 'x')"),
                           {"i": person.id, "e": person.email, "n": person.name})
        restored = restore_org(urls.admin, first.path)
        assert restored.row_counts == first.row_counts
        with pytest.raises(RestoreRefused, match="exists"):
            restore_org(urls.admin, first.path)
        runtime = create_engine(urls.runtime)
        second = _export(sessionmaker(runtime), org, people["owner"], tmp_path / "second.zip")
        runtime.dispose()
        target.dispose()
    finally:
        provisioning.drop_database(admin, name)
    with zipfile.ZipFile(first.path) as a, zipfile.ZipFile(second.path) as b:
        files_a = json.loads(a.read("manifest.json"))["files"]
        files_b = json.loads(b.read("manifest.json"))["files"]
    assert files_a == files_b
