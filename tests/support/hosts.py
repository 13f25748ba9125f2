"""Requests to an org's own host through the Flask test client (its cookie jar is per host,
as a browser's is for host-only cookies)."""

from __future__ import annotations

from contextlib import contextmanager

from tests.conftest import TEST_PASSWORD
from tests.helpers import csrf_from

SUFFIX = ".localhost"


@contextmanager
def org_hosts(app, suffix: str = SUFFIX):
    """Turn org hosts on for the session-wide app (config is read on every request)."""
    previous = app.config.get("TENANT_HOST_SUFFIX")
    app.config["TENANT_HOST_SUFFIX"] = suffix
    try:
        yield
    finally:
        app.config["TENANT_HOST_SUFFIX"] = previous


def host_client(app, host: str):
    """A test client whose every request (redirects included) goes to ``host``."""
    client = app.test_client()
    plain_open = client.open

    def open_on_host(*args, **kwargs):
        kwargs.setdefault("base_url", f"http://{host}")
        return plain_open(*args, **kwargs)

    client.open = open_on_host
    return client


class OnHost:
    """One test client seen through one host: ``OnHost(client, "acme.localhost").get(...)``."""

    def __init__(self, client, host: str) -> None:
        self.client = client
        self.host = host
        self.base = f"http://{host}"

    def get(self, path: str, **kwargs):
        return self.client.get(path, base_url=self.base, **kwargs)

    def post(self, path: str, data: dict | None = None, *, csrf_from_path: str = "/login",
             **kwargs):
        token = csrf_from(self.get(csrf_from_path).get_data(as_text=True))
        return self.client.post(path, base_url=self.base,
                                data={"csrf_token": token, **(data or {})}, **kwargs)

    def login(self, user, password: str = TEST_PASSWORD):
        return self.post("/login", {"email": user.email, "password": password})

    def signed_in(self) -> bool:
        return self.get("/account").status_code == 200


def host_of(org) -> str:
    return f"{org.slug}{SUFFIX}"
