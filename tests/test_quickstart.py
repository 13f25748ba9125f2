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
                      app.extensions["tenantdesk.passwords"])
        client = app.test_client()
        response = login(client, "alex@example.com", demo.DEMO_PASSWORD)
        assert response.headers["Location"].endswith("/o/acme/")
        page = client.get("/o/acme/").get_data(as_text=True)
        assert "Acme" in page and "Owner" in page
        assert '<dd data-testid="member-count">4</dd>' in page
        assert client.get("/o/globex/").status_code == 303  # a member: through the switch
        assert client.get("/o/globex/").status_code == 200
    finally:
        app.extensions["tenantdesk.db"].dispose()
