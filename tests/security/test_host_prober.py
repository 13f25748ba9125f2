"""The isolation prober on org hosts: every route, sent to org A's own host by A's owner with
org B's slug and ids, refuses and changes nothing; A's session replayed on B's host opens
none of B's pages. With both orgs on a dedicated database, every signed ticket the host
mints is A's own, and A's ticket opens none of B's rows there. (The prober's machinery:
tests/security/prober.py.)"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from dashboard import provisioning
from tests import factories, tiers
from tests.security import probe_registry, prober
from tests.security.prober import Probe, ProbeClient
from tests.support.hosts import host_client, host_of, org_hosts


@pytest.fixture(scope="module")
def host_orgs(app):
    with org_hosts(app):
        yield (probe_registry.make_probe_org("A", app), probe_registry.make_probe_org("B", app))


def test_no_route_on_org_a_host_reaches_org_b(app, admin_engine, host_orgs):
    a, b = host_orgs
    with org_hosts(app):
        # B's ids in the URL are what a host could mix up; the form/JSON variants are the
        # plain prober's (tests/security/test_isolation_prober.py), on the installation host.
        result = prober.run(app, admin_engine, a, b, host=host_of(a.org),
                            keep=lambda probe: probe.must_refuse)
    assert result.probes, "nothing was probed"
    assert not result.findings, "\n".join(result.findings)
    assert result.before == result.after


def test_org_a_session_replayed_on_org_b_host_opens_nothing(app, host_orgs):
    a, b = host_orgs
    with org_hosts(app):
        signed_in = ProbeClient(app, a, host=host_of(a.org))
        cookie = signed_in.client.get_cookie("tenantdesk_session", domain=host_of(a.org))
        assert cookie is not None
        replay = host_client(app, host_of(b.org))
        replay.set_cookie("tenantdesk_session", cookie.value, domain=host_of(b.org))
        findings = []
        for rule in prober.probed_rules(app):
            if "slug" not in rule.arguments or "GET" not in (rule.methods or ()):
                continue
            url = prober._build(rule, {p: probe_registry.value_for(p, b)
                                       for p in rule.arguments})
            probe = Probe(rule.endpoint, "GET", "A's cookie on B's host", url)
            response = replay.get(url, headers={"Accept": "text/html"})
            if response.status_code not in (302, 303, *prober.REFUSALS):
                findings.append(f"{probe} -> {response.status_code}: not refused")
            elif response.status_code in (302, 303) and not response.headers[
                    "Location"].startswith("/login"):
                findings.append(f"{probe} -> {response.headers['Location']}: not to sign-in")
            elif b.marker.lower() in prober.readable(response.get_data()).lower():
                findings.append(f"{probe}: org B's marker in the answer")
            response.close()
    assert not findings, "\n".join(findings)


# ------------------------------------------- org hosts on dedicated databases: the ticket


@contextmanager
def tickets_sent():
    """Every dedicated-tier ticket any engine sends while this is open: (org, user,
    credential, raw ticket) (dashboard/tiers/dedicated.py CONTEXT_SQL)."""
    seen: list[tuple[str, str, str, str]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "app.tier_ticket" in statement and isinstance(parameters, dict):
            ticket = parameters.get("ticket") or ""
            if ticket:
                org, user, credential = ticket.split(".", 1)[0].split("|")[:3]
                seen.append((org, user, credential, ticket))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
def dedicated_host_orgs(app, database_urls):
    """A and B on org hosts, both on the (one) dedicated test database: A's tickets and B's
    rows live side by side there, the closest a ticket can get to another org's rows."""
    with org_hosts(app):
        a, b = probe_registry.make_probe_org("A", app), probe_registry.make_probe_org("B", app)
        for org in (a, b):  # every object first, so the move carries it along
            for name in sorted(probe_registry.PROVIDERS):
                probe_registry.value_for(name, org)
            factories.usage_daily(org.org, "api_calls", dt.date.today(), 7)
            tiers.move(database_urls, org.org, "dedicated")
        yield a, b
        for org in (a, b):
            tiers.move(database_urls, org.org, "shared")


def _usage_rows_with(org_id, user_id, ticket) -> int:
    """usage_daily rows the runtime role sees straight on the dedicated database, with this
    context and ticket (what a stolen ticket could do there)."""
    runtime = provisioning.libpq_url(os.environ[tiers.DEDICATED_REF])
    with psycopg.connect(runtime) as conn:
        conn.execute("SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s,"
                     " true), set_config('app.credential_id', '', true),"
                     " set_config('app.provider_id', '', true),"
                     " set_config('app.tier_ticket', %s, true)",
                     (str(org_id), str(user_id), ticket))
        count = conn.execute("SELECT count(*) FROM usage_daily").fetchone()[0]
        conn.rollback()
    return count


def test_on_dedicated_databases_a_host_mints_tickets_for_its_own_org_only(
        app, admin_engine, dedicated_host_orgs):
    a, b = dedicated_host_orgs
    with org_hosts(app), tickets_sent() as seen:
        result = prober.run(app, admin_engine, a, b, host=host_of(a.org),
                            keep=lambda probe: probe.must_refuse)
    assert result.probes and not result.findings, "\n".join(result.findings)
    assert result.before == result.after
    assert seen, "no ticket was sent: A is not on the dedicated database"
    assert {org for org, *_ in seen} == {str(a.id)}  # never B's, whoever asked
    # Signed for A's owner, or for A's own API key / SCIM token (the /api/ and /scim/ probes).
    assert {user for _, user, credential, _ in seen if not credential} == {str(a.owner.id)}


def test_a_ticket_of_org_a_opens_nothing_of_org_b(app, dedicated_host_orgs):
    a, b = dedicated_host_orgs
    with org_hosts(app), tickets_sent() as seen:
        client = ProbeClient(app, a, host=host_of(a.org))
        assert client.client.get(f"/o/{a.slug}/usage").status_code == 200
    org, user, _, ticket = seen[-1]
    assert (org, user) == (str(a.id), str(a.owner.id))
    assert _usage_rows_with(a.id, a.owner.id, ticket) > 0  # the control: it is a real ticket
    assert _usage_rows_with(b.id, a.owner.id, ticket) == 0  # for org B: nothing
    assert _usage_rows_with(b.id, b.owner.id, ticket) == 0  # nor as B's owner
    # A's session on B's host: dropped before it is read, so no ticket at all is minted.
    with org_hosts(app), tickets_sent() as on_b:
        cookie = client.client.get_cookie("tenantdesk_session", domain=host_of(a.org))
        replay = host_client(app, host_of(b.org))
        replay.set_cookie("tenantdesk_session", cookie.value, domain=host_of(b.org))
        for path in (f"/o/{b.slug}/usage", f"/o/{b.slug}/usage/data.json", f"/o/{a.slug}/"):
            response = replay.get(path)
            assert response.status_code in (302, 404), path  # B's host shows B's brand only
    assert on_b == []
