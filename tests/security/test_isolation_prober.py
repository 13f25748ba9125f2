"""Every route, called by org A's owner with org B's slug and ids, refuses and changes nothing.

Routes come from ``app.url_map``, so a new route is probed the day it lands. How to fill a
new URL parameter, what form to send and what to leave out: tests/security/probe_registry.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard.permissions import Permission, requires
from tests import tiers
from tests.conftest import make_app
from tests.security import probe_registry, prober
from tests.security.prober import (
    MISSING_PROVIDER_HELP,
    ProbeClient,
    RowDump,
    control_probes,
    missing_providers,
    probed_rules,
    readable,
)


@pytest.fixture(scope="module")
def orgs(app, database_urls):
    a, b = probe_registry.make_probe_org("A", app), probe_registry.make_probe_org("B", app)
    if tiers.SPREAD:  # A on a tenant schema, B on a dedicated database (the shared tier is
        # the default run's): the prober crosses tiers and databases
        for org in (a, b):  # every object first, so the move carries it along
            for name in sorted(probe_registry.PROVIDERS):
                probe_registry.value_for(name, org)
        tiers.spread(database_urls, [a.org, b.org], dedicated=True)
    return a, b


def test_every_url_parameter_has_a_provider(app):
    missing = missing_providers(app)
    assert not missing, MISSING_PROVIDER_HELP + "\n  ".join(missing)


def test_exclusions_name_routes_that_exist_and_say_why(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = sorted(set(probe_registry.EXCLUDED) - endpoints)
    assert not stale, f"EXCLUDED names endpoints that no longer exist: {stale}"
    stale = sorted(set(probe_registry.CONTROL_EXEMPT) - endpoints)
    assert not stale, f"CONTROL_EXEMPT names endpoints that no longer exist: {stale}"
    stale = sorted(set(probe_registry.FORM_DATA) - endpoints)
    assert not stale, f"FORM_DATA names endpoints that no longer exist: {stale}"
    vague = [e for e, why in probe_registry.EXCLUDED.items() if len(why.strip()) < 20]
    assert not vague, f"give each exclusion a real reason: {vague}"


def test_org_a_reaches_its_own_objects(app, orgs):
    """The control: with A's own values every GET answers, so B's 404s are not vacuous."""
    a, b = orgs
    client = ProbeClient(app, a)
    refused = []
    for probe in control_probes(app, a):
        response = client.send(probe)
        if response.status_code >= 400:
            refused.append(f"{probe} -> {response.status_code}")
        elif b.marker.lower() in readable(response.get_data()).lower():
            refused.append(f"{probe} -> org B's marker in org A's own page")
        response.close()
        client.heal()
    assert not refused, (
        "org A's owner cannot open these with A's own ids; fix the provider in "
        "tests/security/probe_registry.py or list the endpoint in CONTROL_EXEMPT:\n  "
        + "\n  ".join(refused)
    )


def test_no_route_reaches_into_another_org(app, admin_engine, orgs):
    a, b = orgs
    missing = missing_providers(app)
    assert not missing, MISSING_PROVIDER_HELP + "\n  ".join(missing)
    result = prober.run(app, admin_engine, a, b)
    unprobed = sorted({r.endpoint for r in probed_rules(app)} - {p.endpoint for p in result.probes})
    assert not unprobed, f"routes without a probe: {unprobed}"
    findings, count = result.findings, len(result.probes)
    assert not findings, (
        f"{len(findings)} of {count} probes reached into org B:\n  " + "\n  ".join(findings)
    )
    unchanged = result.before == result.after
    assert unchanged, "org B's rows changed:\n" + RowDump.diff(result.before, result.after)


def test_the_prober_catches_a_route_that_forgot_isolation(database_urls, admin_engine, tmp_path):
    """Proof the harness bites: two routes that bypass RLS (as a forgotten check would)."""
    leaky = make_app(database_urls, tmp_path)

    @leaky.route("/o/<slug>/selftest/<member_id>")
    @requires(Permission.MEMBERS_VIEW)
    def peek(member_id):
        with admin_engine.connect() as conn:  # reads past RLS: the bug under test
            return conn.scalar(text("SELECT name FROM users WHERE id::text = :m"),
                               {"m": member_id}) or "nobody"

    @leaky.route("/o/<slug>/selftest/<member_id>/demote", methods=["POST"])
    @requires(Permission.ROLES_EDIT)
    def demote(member_id):
        with admin_engine.begin() as conn:
            conn.execute(text("UPDATE memberships SET role = 'guest' WHERE user_id::text = :m"),
                         {"m": member_id})
        return "", 204

    try:
        a, b = (probe_registry.make_probe_org("A", leaky),
                probe_registry.make_probe_org("B", leaky))
        result = prober.run(leaky, admin_engine, a, b)
    finally:
        leaky.extensions["tenantdesk.db"].dispose()
    report = "\n".join(result.findings)
    assert f"GET /o/{a.slug}/selftest/" in report and "marker" in report, report
    assert "changed org B's rows" in report and "/demote" in report, report
    assert result.before != result.after
