"""Small helpers for driving the app through its real HTTP interface, reading what it wrote,
and running work concurrently."""

from __future__ import annotations

import re
import threading

from tests import factories
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


def switch(client, slug, next_path=""):
    """POST /switch to the org ``slug``."""
    return post(client, "/switch", {"slug": slug, "next": next_path})


def current_sid(client) -> str:
    """The id of the session row the client's cookie carries."""
    with client.session_transaction() as session:
        return session["_user_id"]


def session_row(session_id):
    """A session row's org and revocation, read as the superuser."""
    return factories.execute(
        "SELECT org_id, revoked_at, revoked_reason FROM user_sessions WHERE id = :s",
        s=session_id,
    ).one()


def audit_count(org, action=None) -> int:
    """How many audit rows ``org`` has (of ``action`` only, when given)."""
    sql = "SELECT count(*) FROM audit_events WHERE org_id = :o"
    if action:
        sql += " AND action = :a"
    return factories.execute(sql, o=org.id, a=action).scalar()


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


def next_page_link(html: str) -> str:
    """The URL of a page's ``rel="next"`` link (unescaped)."""
    return re.search(r'href="([^"]+)"[^>]*rel="next"', html).group(1).replace("&amp;", "&")
