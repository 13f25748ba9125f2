"""Two app servers at once, as behind a load balancer: two gunicorn processes (our
gunicorn.conf.py) on two ports, one PostgreSQL, one Redis (127.0.0.1:6379). Whatever one
server learns, the other applies on the very next request."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time

import pytest
import requests

from dashboard.config import PROJECT_ROOT
from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.ops.load import csrf_of

REDIS_URL = "redis://127.0.0.1:6379/14"
TIMEOUT = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def servers(database_urls, tmp_path_factory):
    if not _redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379")
    env = {
        **os.environ,
        "DATABASE_URL": database_urls.runtime,
        "MIGRATION_DATABASE_URL": database_urls.owner,
        "SECRET_KEY": secrets.token_urlsafe(40),  # the same on both, as in production
        "TOKEN_KEY_SECRET": "test-token-key-secret",
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"two-servers-{secrets.token_hex(4)}",
        "LOGIN_RATE_LIMIT": "4/minute",
        "TRUSTED_PROXY_HOPS": "1",  # as behind the load balancer: the client is X-Forwarded-For
        "LOGIN_MAX_FAILURES": "1000",  # only the shared request limit is under test
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "1024",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "TENANTDESK_ENV_FILE": "/nonexistent",
    }
    env.pop("TENANTDESK_DEV_MAIL", None)
    processes, urls = [], []
    for name in ("a", "b"):
        port = _free_port()
        log = open(tmp_path_factory.mktemp(f"server-{name}") / "gunicorn.log", "w")  # noqa: SIM115
        processes.append((subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}",
                 "INSTANCE_PATH": str(tmp_path_factory.mktemp(f"instance-{name}"))},
        ), log))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, f"{url} never became ready"
                time.sleep(0.2)
        yield urls
    finally:
        for process, log in processes:
            process.terminate()
            process.wait(30)
            log.close()


def _sign_in(base: str, email: str) -> requests.Session:
    http = requests.Session()
    token = csrf_of(http.get(f"{base}/login", timeout=TIMEOUT).text)
    landed = http.post(f"{base}/login", timeout=TIMEOUT,
                       data={"csrf_token": token, "email": email, "password": TEST_PASSWORD})
    assert landed.status_code == 200 and "/o/" in landed.url, landed.url
    return http


def test_a_login_limit_reached_through_one_server_holds_on_the_other(servers):
    user = factories.UserFactory()
    client = {"X-Forwarded-For": "203.0.113.77"}  # one client, whichever server answers
    statuses = []
    for attempt in range(6):
        base = servers[attempt % 2]
        http = requests.Session()
        token = csrf_of(http.get(f"{base}/login", timeout=TIMEOUT).text)
        statuses.append(http.post(f"{base}/login", timeout=TIMEOUT, headers=client, data={
            "csrf_token": token, "email": user.email, "password": "wrong"}).status_code)
    # 4 per minute for this address in all: a per-server count would allow 6 (3 each).
    assert statuses == [401, 401, 401, 401, 429, 429], statuses


def test_a_browser_session_works_on_both_and_a_sign_out_on_one_ends_it_on_the_other(servers):
    a, b = servers
    org, people = factories.org_with_members(owner="owner")
    browser = _sign_in(a, people["owner"].email)
    assert browser.get(f"{b}/o/{org.slug}/", timeout=TIMEOUT).status_code == 200
    stolen = requests.Session()
    stolen.cookies.update(browser.cookies)
    token = csrf_of(browser.get(f"{a}/o/{org.slug}/", timeout=TIMEOUT).text)
    assert browser.post(f"{a}/logout", data={"csrf_token": token},
                        timeout=TIMEOUT).status_code == 200
    replay = stolen.get(f"{b}/o/{org.slug}/", timeout=TIMEOUT, allow_redirects=False)
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]


def test_a_member_removed_through_one_server_is_refused_by_the_other(servers):
    a, b = servers
    org, people = factories.org_with_members(owner="owner", bob="member")
    owner = _sign_in(a, people["owner"].email)
    bob = _sign_in(b, people["bob"].email)
    assert bob.get(f"{b}/o/{org.slug}/", timeout=TIMEOUT).status_code == 200
    path = f"/o/{org.slug}/members/{people['bob'].id}/remove"
    token = csrf_of(owner.get(f"{a}{path}", timeout=TIMEOUT).text)
    removed = owner.post(f"{a}{path}", data={"csrf_token": token}, timeout=TIMEOUT,
                         allow_redirects=False)
    assert removed.status_code == 303
    after = bob.get(f"{b}/o/{org.slug}/", timeout=TIMEOUT, allow_redirects=False)
    assert after.status_code in (302, 403, 404), after.status_code
    assert org.name not in after.text


def test_metrics_of_every_gunicorn_worker_come_through_the_multiprocess_directory(servers):
    a, _ = servers
    for _ in range(3):
        requests.get(f"{a}/login", timeout=TIMEOUT)
    text = requests.get(f"{a}/metrics", timeout=TIMEOUT).text
    line = next(line for line in text.splitlines() if line.startswith(
        'tenantdesk_http_requests_total{endpoint="auth.login",method="GET",status_class="2xx"}'))
    assert float(line.rsplit(" ", 1)[1]) >= 3
