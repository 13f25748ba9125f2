"""The isolation prober on org hosts: every route, sent to org A's own host by A's owner with
org B's slug and ids, refuses and changes nothing; A's session replayed on B's host opens
none of B's pages. (The prober's machinery: tests/security/prober.py.)"""

from __future__ import annotations

import pytest

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
