"""Under concurrent load on a small pool, no response ever carries another org's data.

A real threaded WSGI server with DB_POOL_SIZE=3 serves 20 HTTP clients, each signed in to a
different org (some belong to two and switch between them mid-run). For a bounded time they
request a shuffled mix of pages: every GET page of the URL map that takes only ``<slug>`` (so
new pages join the mix by themselves), the switcher and the landing page. Every body is
scanned for the markers of every org the client does not belong to and of every person who
shares no org with it.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from tests import factories, tiers
from tests.conftest import TEST_PASSWORD, make_app
from tests.helpers import login
from tests.live_server import LiveServer
from tests.security.prober import readable

CLIENTS = 20
POOL_SIZE = 3
DURATION_SECONDS = 10.0
MAX_REQUESTS_PER_CLIENT = 200
TIMEOUT_SECONDS = 30


@dataclass
class Tenant:
    id: object
    slug: str
    name: str
    marker: str


@dataclass
class Client:
    number: int
    email: str
    marker: str  # in the user's name and email: shows up in the audit log of their orgs
    orgs: list[Tenant]  # the first is where the client signs in
    http: requests.Session = field(default_factory=requests.Session)
    seen: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def _tenants(count: int) -> list[Tenant]:
    tenants = []
    for n in range(count):
        marker = f"zl{random.randrange(16**10):010x}"
        org = factories.OrgFactory(name=f"Load {n} {marker}", slug=f"load-{n}-{marker[2:8]}")
        tenants.append(Tenant(id=org.id, slug=org.slug, name=org.name, marker=marker))
    return tenants


def _clients(tenants: list[Tenant]) -> list[Client]:
    clients = []
    for n, tenant in enumerate(tenants):
        marker = f"zu{random.randrange(16**10):010x}"
        user = factories.UserFactory(name=f"Loader {marker}", email=f"loader.{marker}@load.example")
        orgs = [tenant]
        factories.MembershipFactory(org_id=tenant.id, user_id=user.id, role="owner")
        if n % 4 == 0:  # every fourth client also belongs to the next org and switches
            other = tenants[(n + 1) % len(tenants)]
            factories.MembershipFactory(org_id=other.id, user_id=user.id, role="owner")
            orgs.append(other)
        factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u",
                          o=tenant.id, u=user.id)
        clients.append(Client(number=n, email=user.email, marker=marker, orgs=orgs))
    return clients


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _sign_in(server: LiveServer, client: Client) -> None:
    page = client.http.get(server("/login"), timeout=TIMEOUT_SECONDS)
    token = _CSRF.search(page.text).group(1)
    landed = client.http.post(
        server("/login"),
        data={"csrf_token": token, "email": client.email, "password": TEST_PASSWORD},
        timeout=TIMEOUT_SECONDS,
    )
    assert landed.url.endswith(f"/o/{client.orgs[0].slug}/"), (landed.status_code, landed.url)


def _org_pages(app) -> list[str]:
    """GET pages of the URL map whose only parameter is the org slug."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.arguments == {"slug"} and "GET" in (rule.methods or ())
    )


@pytest.fixture(scope="module")
def server(database_urls, tmp_path_factory):
    live = LiveServer().start(
        lambda url: make_app(database_urls, tmp_path_factory.mktemp("load"),
                             BASE_URL=url, DB_POOL_SIZE=POOL_SIZE)
    )
    yield live
    live.stop()


def test_twenty_concurrent_clients_never_see_another_orgs_data(server, database_urls):
    tenants = _tenants(CLIENTS)
    clients = _clients(tenants)
    if tiers.SPREAD:  # every other org on a tenant schema, the last on a dedicated database,
        tiers.spread(database_urls, tenants, dedicated=True)  # the rest shared, all at once
    for client in clients:
        _sign_in(server, client)

    # Warm-up as client 0: keep the pages an owner can open (a page behind a feature flag
    # that org lacks would only add noise), so in the run any non-200 is a real failure.
    templates = []
    for template in _org_pages(server.app):
        response = clients[0].http.get(server(template.replace("<slug>", clients[0].orgs[0].slug)),
                                       timeout=TIMEOUT_SECONDS)
        if response.status_code == 200:
            templates.append(template)
    assert "/o/<slug>/" in templates, templates

    def work(client: Client) -> None:
        rng = random.Random(client.number)
        mine = {t.slug for t in client.orgs}
        # Other orgs, and people who share no org with this client.
        forbidden = [t.marker for t in tenants if t.slug not in mine] + [
            c.marker for c in clients if not mine & {t.slug for t in c.orgs}
        ]
        start.wait()
        deadline = time.monotonic() + DURATION_SECONDS
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() > deadline:
                break
            org = rng.choice(client.orgs)
            path = rng.choice([*templates, "/switcher", "/"]).replace("<slug>", org.slug)
            try:
                response = client.http.get(server(path), timeout=TIMEOUT_SECONDS)
            except requests.RequestException as exc:
                client.problems.append(f"{path}: {exc!r}")
                continue
            client.seen[response.status_code] += 1
            body = readable(response.content).lower()
            leaked = [marker for marker in forbidden if marker in body]
            if leaked:
                client.problems.append(f"LEAK {path}: markers of {leaked}")
            html = response.headers.get("Content-Type", "").startswith("text/html")
            if response.status_code != 200:
                client.problems.append(f"{path} -> {response.status_code}")
            elif path.startswith("/o/") and html and org.name.lower() not in body:
                client.problems.append(f"{path}: not the page of {org.slug}")

    start = threading.Barrier(CLIENTS + (1 if tiers.SPREAD else 0))
    moves = []

    def keep_moving() -> None:  # tiers spread: one org goes round the three tiers under load
        start.wait()
        deadline = time.monotonic() + DURATION_SECONDS
        while time.monotonic() < deadline:
            for to in ("shared", "dedicated", "schema"):
                moves.append(tiers.move(database_urls, tenants[0], to)["state"])

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS + 1) as pool:
        mover = pool.submit(keep_moving) if tiers.SPREAD else None
        list(pool.map(work, clients))
        if mover is not None:
            mover.result()
    elapsed = time.monotonic() - began
    if tiers.SPREAD:
        assert moves and set(moves) == {"done"}, moves
        print(f"\n{len(moves)} verified moves of {tenants[0].slug} during the run")

    statuses = sum((c.seen for c in clients), Counter())
    total = sum(statuses.values())
    problems = [f"client {c.number}: {p}" for c in clients for p in c.problems]
    print(f"\n{total} requests in {elapsed:.1f}s ({total / elapsed:.0f}/s) by {CLIENTS} clients, "
          f"pool {POOL_SIZE}; statuses {dict(statuses)}; pages {templates}")
    assert total >= CLIENTS * 10, f"too little load to mean anything: {total} requests"
    assert not problems, f"{len(problems)} problems in {total} requests:\n" + "\n".join(
        problems[:50]
    )
    assert not [s for s in statuses if s >= 500]


def test_every_org_page_gives_its_connection_back(app, client):
    """A page (or streamed download) that keeps a pooled connection starves the pool."""
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    pool = app.extensions["tenantdesk.db"].engine.pool
    kept = []
    for template in _org_pages(app):
        before = pool.checkedout()
        for _ in range(2):
            response = client.get(template.replace("<slug>", org.slug))
            response.get_data()
            response.close()
        if pool.checkedout() > before:
            kept.append(f"{template} ({response.status_code})")
    assert not kept, f"these pages keep a database connection checked out: {kept}"
