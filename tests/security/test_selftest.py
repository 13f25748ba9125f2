"""The live isolation self-test: it passes on the real schema, catches a deliberately opened
policy (the same probes that pass fail, naming the table), and the public /trust page shows
counts and dates only."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from dashboard import tenancy
from dashboard.apikeys import tokens
from dashboard.trust import selftest
from tests import factories


@pytest.fixture(scope="module")
def fixtures(app, database_urls):
    owner = create_engine(database_urls.owner)
    hmac_key = tokens.server_key(app.config.get("API_KEY_HMAC_KEY"), app.config["SECRET_KEY"])
    try:
        made = selftest.ensure_fixtures(app.extensions["tenantdesk.db"].sessionmaker, owner,
                                        hmac_key)
        again = selftest.ensure_fixtures(app.extensions["tenantdesk.db"].sessionmaker, owner,
                                         hmac_key)
    finally:
        owner.dispose()
    assert again == made  # a second run reuses what the first made
    return made


def test_the_real_schema_passes_and_the_page_shows_counts_only(app, client, fixtures):
    result = selftest.run(app.extensions["tenantdesk.db"].engine, fixtures)
    assert result.ok, result.findings
    print(f"self-test: {result.tables} tables, {result.functions} functions, "
          f"{result.attempts} attempts, {result.leaks} leaks, {result.duration_ms} ms")
    assert result.tables >= 20 and result.functions >= 2
    assert result.attempts >= 7 * result.tables
    with tenancy.scoped_session(app.extensions["tenantdesk.db"].sessionmaker,
                                tenancy.NOBODY) as session:
        selftest.record(session, result)
    page = client.get("/trust").get_data(as_text=True)
    assert 'data-testid="trust-leaks">0<' in page
    for secret in (str(fixtures.org_a), str(fixtures.org_b), "selftest-a", "selftest-b"):
        assert secret not in page


@pytest.mark.parametrize("table", ["memberships", "audit_events", "org_credentials"])
def test_an_opened_policy_is_caught(app, admin_engine, fixtures, table):
    hole = f"selftest_hole_{table}"
    with admin_engine.begin() as admin:
        admin.exec_driver_sql(f"CREATE POLICY {hole} ON {table} FOR SELECT USING (true)")
    try:
        result = selftest.run(app.extensions["tenantdesk.db"].engine, fixtures)
    finally:
        with admin_engine.begin() as admin:
            admin.exec_driver_sql(f"DROP POLICY {hole} ON {table}")
    assert not result.ok
    assert any(table in finding for finding in result.findings), result.findings


def test_the_trust_page_can_be_turned_off(database_urls, tmp_path):
    from tests.conftest import make_app

    app = make_app(database_urls, tmp_path, TRUST_PAGE=False)
    try:
        assert app.test_client().get("/trust").status_code == 404
    finally:
        app.extensions["tenantdesk.db"].dispose()


def test_the_self_test_people_cannot_sign_in(client, fixtures):
    from tests.helpers import login

    response = login(client, "staff@selftest.tenantdesk.invalid", "")
    assert response.status_code != 303
    assert factories.execute("SELECT password_hash FROM users WHERE email ="
                             " 'staff@selftest.tenantdesk.invalid'").scalar() is None


def test_the_worker_runs_the_self_test_and_signs_checkpoints_when_due(app, fixtures):
    from dashboard.trust import jobs as trust_jobs

    before = factories.execute("SELECT count(*) FROM selftest_runs").scalar()
    lines: list[str] = []
    trust_jobs.run_due(app, lines.append, every_seconds=0)
    assert factories.execute("SELECT count(*) FROM selftest_runs").scalar() == before + 1
    assert any("0 leaks" in line for line in lines), lines
    assert any("checkpoint" in line for line in lines), lines
    trust_jobs.run_due(app, lines.append, every_seconds=3600)  # not due again yet
    assert factories.execute("SELECT count(*) FROM selftest_runs").scalar() == before + 1
