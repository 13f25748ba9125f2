"""The per-email sign-in limit holds under a burst: 20 wrong passwords for one account sent at
the same moment from 20 different addresses against the live server. Before the limit was
serialised in the database (``app_login_begin``: an advisory lock on the email, then count,
then record), 19 of 20 were checked against a limit of 5.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections import Counter
from urllib.parse import urlencode, urlsplit

from tests import factories
from tests.helpers import csrf_from

ATTEMPTS = 20


def _attempt(port: int, source: str, email: str, barrier: threading.Barrier) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        conn.request("GET", "/login")
        page = conn.getresponse()
        html = page.read().decode()
        cookie = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or [])
        body = urlencode({"csrf_token": csrf_from(html), "email": email,
                          "password": "not the password"})
        barrier.wait(timeout=60)
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def test_twenty_concurrent_guesses_from_twenty_addresses_evaluate_at_most_the_limit(
        live_server):
    user = factories.UserFactory()
    limit = live_server.app.config["LOGIN_MAX_FAILURES"]
    port = urlsplit(live_server.url).port
    barrier = threading.Barrier(ATTEMPTS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            statuses.append(_attempt(port, f"127.0.0.{n + 2}", user.email, barrier))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    # 401: the password was checked (and was wrong); 429: refused before any check.
    assert Counter(statuses) == {401: limit, 429: ATTEMPTS - limit}
    key = hashlib.sha256(user.email.lower().encode()).hexdigest()
    recorded = factories.execute(
        "SELECT count(*), count(DISTINCT ip) FROM login_attempts WHERE email_key = :k", k=key
    ).one()
    assert tuple(recorded) == (limit, limit)  # each from its own address
