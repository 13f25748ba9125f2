"""Smoke test of the `make run` path: embedded PostgreSQL, migrations, demo data, sign-in.

Uses the very functions `tenantdesk run` calls, on a fresh embedded server of its own (even
when the rest of the suite runs against DATABASE_URL).
"""

from __future__ import annotations

import tempfile
import warnings

from dashboard import demo, migrate, provisioning
from tests.conftest import make_app
from tests.helpers import login


def test_quickstart_path_serves_acme_to_alex(tmp_path):
    # Not under pytest's tmp_path: pytest keeps that tree private (0700), while the embedded
    # server runs as its own system user when the tests run as root.
    data_dir = tempfile.mkdtemp(prefix="tenantdesk-quickstart-")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        admin = provisioning.start_embedded(data_dir)
    urls = provisioning.bootstrap(admin, provisioning.DEFAULT_DATABASE)
    migrate.upgrade(urls.owner)
    migrate.upgrade(urls.owner)  # running it again is harmless
    app = make_app(urls, tmp_path)
    try:
        for _ in range(2):  # seeding is idempotent
            demo.seed(app.extensions["tenantdesk.db"].sessionmaker,
                      app.extensions["tenantdesk.passwords"], urls.owner)
        client = app.test_client()
        response = login(client, "alex@example.com", demo.DEMO_PASSWORD)
        assert response.headers["Location"].endswith("/o/acme/")
        page = client.get("/o/acme/").get_data(as_text=True)
        assert "Acme" in page and "Owner" in page
        assert '<dd data-testid="member-count">4</dd>' in page
        pending = client.get("/o/acme/invitations").get_data(as_text=True)
        assert pending.count('data-testid="pending-row"') == 2  # seeded once, not twice
        assert client.get("/o/globex/").status_code == 303  # a member: through the switch
        assert client.get("/o/globex/").status_code == 200
        for slug, plan in [("acme", "Growth"), ("globex", "Starter")]:
            page = client.get(f"/o/{slug}/plan")
            if page.status_code == 303:
                page = client.get(f"/o/{slug}/plan")
            assert f'<dd data-testid="plan-name">{plan}</dd>' in page.get_data(as_text=True)
        staff = app.test_client()
        login(staff, "sam@example.com", demo.DEMO_PASSWORD)
        acme_id = _org_id(urls, "acme")
        page = staff.get(f"/admin/orgs/{acme_id}/plan").get_data(as_text=True)
        assert '<dd data-testid="plan-name">Growth</dd>' in page
        assert _plan_changes(urls, acme_id) == 1  # the second seed changed nothing
    finally:
        app.extensions["tenantdesk.db"].dispose()


def _org_id(urls, slug):
    from sqlalchemy import create_engine, text

    engine = create_engine(urls.admin)
    with engine.connect() as conn:
        org_id = conn.execute(text("SELECT id FROM organizations WHERE slug = :s"),
                              {"s": slug}).scalar()
    engine.dispose()
    return org_id


def _plan_changes(urls, org_id):
    from sqlalchemy import create_engine, text

    engine = create_engine(urls.admin)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM audit_events WHERE org_id = :o"
                                  " AND action = 'license.change_plan'"), {"o": org_id}).scalar()
    engine.dispose()
    return count
