"""Limits shared through Redis across two server processes; sign-in fails closed when the
store is down while the API fails open. Skipped cleanly where no Redis answers."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests import factories
from tests.api.conftest import api_org, bearer
from tests.conftest import make_app
from tests.helpers import csrf_token

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
LIMIT = 7


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(not _redis_answers(), reason=f"no Redis at {REDIS_URL}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE = """
import sys
from werkzeug.serving import run_simple
from dashboard import create_app
run_simple("127.0.0.1", int(sys.argv[1]), create_app(), threaded=True)
"""


@pytest.fixture(scope="module")
def two_servers(app, database_urls, tmp_path_factory):
    prefix = f"tdtest-{secrets.token_hex(4)}"
    env = {
        **os.environ,
        "DATABASE_URL": database_urls.runtime,
        "MIGRATION_DATABASE_URL": database_urls.owner,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "INSTANCE_PATH": str(tmp_path_factory.mktemp("servers")),
        "DB_POOL_SIZE": "2",
    }
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 30
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                try:
                    if requests.get(f"{url}/api/v1/openapi.json", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


@needs_redis
def test_the_limit_holds_across_two_processes_sharing_redis(two_servers):
    org, _ = api_org("enterprise", rate_limit_per_minute=LIMIT)
    key, _ = factories.api_key(org, [])
    with requests.Session() as http:
        responses = [
            http.get(f"{two_servers[i % 2]}/api/v1/org",
                     headers={**bearer(key), "X-Forwarded-For": f"192.0.2.{i}"}, timeout=5)
            for i in range(LIMIT + 3)
        ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * LIMIT + [429] * 3
    remaining = [int(r.headers["RateLimit-Remaining"]) for r in responses[:LIMIT]]
    assert remaining == list(range(LIMIT - 1, -1, -1))  # one counter, both processes
    blocked = responses[-1]
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert blocked.headers["RateLimit-Limit"] == str(LIMIT)
    assert blocked.headers["RateLimit-Remaining"] == "0"
    assert 0 <= int(blocked.headers["RateLimit-Reset"]) <= 60


@pytest.fixture(scope="module")
def dead_store_app(app, database_urls, tmp_path_factory):
    broken = make_app(
        database_urls, tmp_path_factory.mktemp("dead-redis"),
        SECRET_KEY=app.config["SECRET_KEY"], REDIS_URL=DEAD_REDIS_URL,
    )
    yield broken
    broken.extensions["tenantdesk.db"].dispose()


def test_sign_in_fails_closed_when_the_limit_store_is_down(dead_store_app):
    org, people = factories.org_with_members(owner="owner")
    client = dead_store_app.test_client()
    assert client.get("/login").status_code == 200  # the page itself still shows
    token = csrf_token(client, "/login")
    response = client.post("/login", data={
        "csrf_token": token, "email": people["owner"].email,
        "password": "correct horse battery staple",
    })
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "temporarily unavailable" in response.get_data(as_text=True)
    assert client.get(f"/o/{org.slug}/").status_code == 302  # not signed in


def test_the_api_fails_open_when_the_limit_store_is_down(dead_store_app):
    org, _ = api_org()
    key, _ = factories.api_key(org, [])
    client = dead_store_app.test_client()
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200


@needs_redis
def test_sign_in_is_limited_per_client_address(app, database_urls, tmp_path_factory):
    limited = make_app(
        database_urls, tmp_path_factory.mktemp("login-limit"), REDIS_URL=REDIS_URL,
        LOGIN_RATE_LIMIT="3/minute", RATELIMIT_KEY_PREFIX=f"tdtest-{secrets.token_hex(4)}",
    )
    try:
        client = limited.test_client()
        token = csrf_token(client, "/login")
        statuses = [
            client.post("/login", data={"csrf_token": token, "email": "x@example.com",
                                        "password": "nope"},
                        headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
    finally:
        limited.extensions["tenantdesk.db"].dispose()
