"""The "Plan & features" page, the expired-license banner, and plan changes seen by every
worker, through the real HTTP interface."""

from __future__ import annotations

import re

import pytest

from dashboard import tenancy
from dashboard.audit.service import Actor
from dashboard.licenses import service
from tests import factories
from tests.conftest import make_app
from tests.helpers import login


def test_plan_page_shows_plan_seats_features_and_limits(client):
    org, people = factories.org_with_members(owner="owner", bob="member", cleo="member")
    factories.put_on_plan(org, "growth", seats=5)
    factories.FeatureOverrideFactory(org_id=org.id, feature="scim", enabled=True,
                                     reason="SCIM pilot, ticket 42")
    login(client, people["owner"])
    response = client.get(f"/o/{org.slug}/plan")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<dd data-testid="plan-name">Growth</dd>' in page
    assert '<dd data-testid="seats">3 of 5</dd>' in page
    assert '<dd data-testid="rate-limit">500 / min</dd>' in page
    sso = _row(page, 'data-feature="sso"')
    assert "On" in sso and "Included in the Growth plan" in sso
    scim = _row(page, 'data-feature="scim"')
    assert "On" in scim and "Turned on for your organization by Tenantdesk" in scim
    assert "SCIM pilot, ticket 42" in scim
    roles = _row(page, 'data-feature="custom-roles"')
    assert "Off" in roles and "Not included in the Growth plan" in roles
    api_calls = _row(page, 'data-metric="api_calls"')
    assert "1,000,000 / month" in api_calls and "Allowed, with a warning" in api_calls
    assert "<td>0</td>" in api_calls  # current use, filled by the usage area
    assert "3" in _row(page, 'data-metric="seats"')
    assert "100.0 GiB" in _row(page, 'data-metric="storage_bytes"')


def test_admins_see_the_page_but_nothing_to_change_it(client):
    org, people = factories.org_with_members(owner="owner", admin="admin")
    login(client, people["admin"])
    page = client.get(f"/o/{org.slug}/plan").get_data(as_text=True)
    assert "Plan &amp; features" in page
    forms = re.findall(r'<form[^>]*action="([^"]*)"', page)
    assert all("logout" in action or "switch" in action for action in forms), forms


def test_members_without_billing_view_are_refused(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    assert client.get(f"/o/{org.slug}/plan").status_code == 403
    page = client.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert "Plan &amp; features" not in page  # not in the navigation either


def test_another_orgs_plan_page_is_a_404(client):
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    factories.put_on_plan(org_b, "scale")
    login(client, people_a["owner"])
    response = client.get(f"/o/{org_b.slug}/plan")
    assert response.status_code == 404
    assert "Scale" not in response.get_data(as_text=True)


def test_an_expired_license_shows_a_banner_and_keeps_the_data(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "growth", valid_until="2020-01-01T00:00:00Z",
                          valid_from="2019-01-01T00:00:00Z")
    login(client, people["bob"])
    home = client.get(f"/o/{org.slug}/")
    page = home.get_data(as_text=True)
    assert home.status_code == 200
    assert 'data-testid="license-banner"' in page
    assert "Your Growth license ended on 1 Jan 2020" in page
    assert '<dd data-testid="member-count">2</dd>' in page  # data still there
    login(client, people["owner"])
    plan = client.get(f"/o/{org.slug}/plan").get_data(as_text=True)
    assert ('<dd data-testid="license-state">Ended <time datetime="2020-01-01">1 Jan 2020</time>'
            '</dd>') in plan
    assert "Included in Growth, but the license is not active" in _row(plan, 'data-feature="sso"')


def test_no_banner_while_the_license_is_active(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "growth", valid_until="2999-01-01T00:00:00Z")
    login(client, people["owner"])
    assert 'data-testid="license-banner"' not in client.get(f"/o/{org.slug}/").get_data(
        as_text=True)


@pytest.fixture
def second_worker(database_urls, tmp_path, app):
    """Another app object on the same database: another worker, its own pool and state."""
    other = make_app(database_urls, tmp_path, SECRET_KEY=app.config["SECRET_KEY"])
    yield other
    other.extensions["tenantdesk.db"].dispose()


def test_a_plan_change_reaches_every_worker_on_its_next_request(app, second_worker):
    org, people = factories.org_with_members(owner="owner")
    staff = factories.UserFactory()
    factories.make_staff(staff)
    workers = [app.test_client(), second_worker.test_client()]
    for worker in workers:
        login(worker, people["owner"])
        assert worker.get(f"/o/{org.slug}/plan/entitlements.json").status_code == 403
    # Staff act through a third session factory (the first worker's pool).
    with tenancy.scoped_session(
        app.extensions["tenantdesk.db"].sessionmaker, tenancy.TenantContext(user_id=staff.id)
    ) as session:
        service.change_plan(session, org.id, plan="starter", reason="bought starter",
                            actor=Actor(label="staff"))
    for worker in workers:
        response = worker.get(f"/o/{org.slug}/plan/entitlements.json")
        assert response.status_code == 200 and response.get_json()["plan"] == "starter"
    with tenancy.scoped_session(
        app.extensions["tenantdesk.db"].sessionmaker, tenancy.TenantContext(user_id=staff.id)
    ) as session:
        service.set_override(session, org.id, feature="api-access", enabled=False,
                             reason="abuse investigation", actor=Actor(label="staff"))
    for worker in workers:
        assert worker.get(f"/o/{org.slug}/plan/entitlements.json").status_code == 403


def _row(page: str, marker: str) -> str:
    start = page.index(marker)
    return page[start:page.index("</tr>", start)]


_WORKER = """
from werkzeug.serving import make_server
from dashboard import create_app
server = make_server("127.0.0.1", 0, create_app(), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.fixture
def worker_process(database_urls, tmp_path):
    """Another OS process serving the app on the test database: a worker of its own."""
    import os
    import secrets
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": database_urls.runtime,
        "MIGRATION_DATABASE_URL": database_urls.owner,
        "SECRET_KEY": secrets.token_hex(16),
        "INSTANCE_PATH": str(tmp_path),
        "DB_POOL_SIZE": "2",
    }
    proc = subprocess.Popen([sys.executable, "-c", _WORKER], env=env, stdout=subprocess.PIPE,
                            text=True)
    try:
        yield f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_a_plan_change_reaches_a_worker_in_another_process(app, worker_process):
    """Staff change the plan in this process; the other process's next request sees it."""
    import requests

    from tests.conftest import TEST_PASSWORD
    from tests.helpers import csrf_from

    org, people = factories.org_with_members(owner="owner")
    staff = factories.UserFactory()
    factories.make_staff(staff)
    gated = f"/o/{org.slug}/plan/entitlements.json"
    local = app.test_client()
    login(local, people["owner"])
    with requests.Session() as remote:
        token = csrf_from(remote.get(f"{worker_process}/login", timeout=10).text)
        remote.post(f"{worker_process}/login", timeout=10, data={
            "csrf_token": token, "email": people["owner"].email, "password": TEST_PASSWORD})
        assert remote.get(worker_process + gated, timeout=10).status_code == 403
        assert local.get(gated).status_code == 403
        with tenancy.scoped_session(
            app.extensions["tenantdesk.db"].sessionmaker, tenancy.TenantContext(user_id=staff.id)
        ) as session:
            service.change_plan(session, org.id, plan="growth", reason="upgrade",
                                actor=Actor(label="staff"))
        response = remote.get(worker_process + gated, timeout=10)
        assert response.status_code == 200 and response.json()["plan"] == "growth"
        assert local.get(gated).status_code == 200
