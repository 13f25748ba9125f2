"""Signed-in HTTP clients hammering a live server from threads (the ops tests' load)."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import TEST_PASSWORD

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TIMEOUT = 30


def csrf_of(html: str) -> str:
    return _CSRF.search(html).group(1)


def signed_in(base_url: str, email: str, password: str = TEST_PASSWORD) -> requests.Session:
    http = requests.Session()
    token = csrf_of(http.get(f"{base_url}/login", timeout=TIMEOUT).text)
    landed = http.post(f"{base_url}/login", timeout=TIMEOUT,
                       data={"csrf_token": token, "email": email, "password": password})
    assert landed.status_code == 200 and "/o/" in landed.url, (landed.status_code, landed.url)
    return http


def hammer(base_url: str, email: str, paths: list[str], clients: int, rounds: int) -> Counter:
    """``clients`` signed-in sessions each GET every path ``rounds`` times, concurrently."""
    sessions = [signed_in(base_url, email) for _ in range(clients)]

    def run(http: requests.Session) -> Counter:
        seen = Counter()
        for _ in range(rounds):
            for path in paths:
                seen[http.get(base_url + path, timeout=TIMEOUT).status_code] += 1
        return seen

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return sum(pool.map(run, sessions), Counter())
