"""Small helpers for driving the app through its real HTTP interface, and for running
work concurrently."""

from __future__ import annotations

import re
import threading

from tests.conftest import TEST_PASSWORD

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                   r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def csrf_token(client, path: str = "/login") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def login(client, user_or_email, password: str = TEST_PASSWORD):
    email = getattr(user_or_email, "email", user_or_email)
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password})


def post(client, path: str, data: dict | None = None, **kwargs):
    """POST with a valid CSRF token taken from the user's current session."""
    token = csrf_token(client, "/switcher")
    return client.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)


def bearer_headers(client) -> dict[str, str]:
    """An ``Authorization`` header with a fresh access token (JWT) for the signed-in client's
    active org. /api/ routes trust bearer tokens only, never the browser cookie."""
    token = csrf_token(client, "/switcher")
    response = client.post("/auth/token", headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def in_threads(work, count: int) -> list[Exception]:
    """``work(n)`` for each n in range(count), each in a thread of its own, all started
    before any is joined; what they raised (a test asserts it is empty)."""
    errors: list[Exception] = []

    def run(n: int) -> None:
        try:
            work(n)
        except Exception as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
