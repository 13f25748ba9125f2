"""The app refuses to serve when its database role could read past RLS."""

from __future__ import annotations

import pytest

from dashboard import provisioning
from dashboard.db import UnsafeDatabaseRole
from tests.conftest import make_app


def test_refuses_a_superuser(database_urls, tmp_path):
    unsafe = provisioning.DatabaseUrls(runtime=database_urls.admin, owner=database_urls.owner)
    with pytest.raises(UnsafeDatabaseRole, match="superuser") as info:
        make_app(unsafe, tmp_path)
    assert "NOBYPASSRLS" in str(info.value)


def test_refuses_the_table_owner(database_urls, tmp_path):
    unsafe = provisioning.DatabaseUrls(runtime=database_urls.owner, owner=database_urls.owner)
    with pytest.raises(UnsafeDatabaseRole, match="owns"):
        make_app(unsafe, tmp_path)


def test_refuses_a_bypassrls_role(database_urls, admin_engine, tmp_path):
    from sqlalchemy import text

    with admin_engine.begin() as conn:
        conn.execute(text(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'td_bypass_probe')"
            " THEN CREATE ROLE td_bypass_probe LOGIN BYPASSRLS; END IF; END $$"
        ))
    database = database_urls.runtime.rsplit("/", 1)[1].split("?")[0]
    url = provisioning.url_for_role(database_urls.admin, "td_bypass_probe", database)
    unsafe = provisioning.DatabaseUrls(runtime=url, owner=database_urls.owner)
    with admin_engine.begin() as conn:
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO td_bypass_probe'))
    with pytest.raises(UnsafeDatabaseRole, match="BYPASSRLS"):
        make_app(unsafe, tmp_path)


def test_concurrent_bootstrap_is_safe(database_urls):
    """gunicorn workers on the embedded database all bootstrap at start-up."""
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    admin = database_urls.admin.rsplit("/", 1)[0] + "/postgres"
    if "?" in database_urls.admin:
        admin += "?" + database_urls.admin.split("?", 1)[1]
    name = f"tenantdesk_boot_{secrets.token_hex(3)}"
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda _: provisioning.bootstrap(admin, name), range(4)))
        assert len({r.runtime for r in results}) == 1
    finally:
        provisioning.drop_database(admin, name)


@pytest.mark.parametrize(("granted", "complaint"), [
    ("tenantdesk_owner", "member of their owner"),  # could ALTER TABLE ... NO FORCE RLS
    ("tenantdesk_definer", "member of tenantdesk_definer"),  # could SET ROLE to a BYPASSRLS role
])
def test_refuses_a_role_that_inherits_power(database_urls, admin_engine, tmp_path, granted,
                                            complaint):
    from sqlalchemy import text

    probe = f"td_member_of_{granted.removeprefix('tenantdesk_')}"
    database = database_urls.runtime.rsplit("/", 1)[1].split("?")[0]
    with admin_engine.begin() as conn:
        conn.execute(text(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{probe}')"
            f" THEN CREATE ROLE {probe} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
        ))
        conn.execute(text(f"GRANT {granted} TO {probe}"))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {probe}'))
    url = provisioning.url_for_role(database_urls.admin, probe, database)
    unsafe = provisioning.DatabaseUrls(runtime=url, owner=database_urls.owner)
    with pytest.raises(UnsafeDatabaseRole, match=complaint):
        make_app(unsafe, tmp_path)
