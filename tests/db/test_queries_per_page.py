"""Each main page runs a small, constant number of SQL statements, however big the org is.

Counted with a SQLAlchemy ``before_cursor_execute`` listener on the app's engine: every
statement the request sends (the RLS context included). A page is found by its URL rule, so
pages that are not built yet are skipped ("not available yet") and picked up once they land.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import event

from dashboard.db import recording_statements
from tests import factories
from tests.helpers import csrf_token, login, next_page_link

GROW_BY = 120  # more than any page size, so a per-row query would show


@dataclass(frozen=True)
class PageCase:
    rule: str  # the URL rule, e.g. "/o/<slug>/members"
    budget: int  # the most statements one request may run
    grow: tuple[Callable, ...]  # what makes the org "big" for this page
    query: str = ""


def add_members(org, n: int = GROW_BY) -> None:
    """n new users in the org (set-based, as a superuser)."""
    factories.execute(
        """
        WITH new AS (
          INSERT INTO users (email, name, password_hash)
          SELECT 'grow-' || gen_random_uuid() || '@example.com', 'Grown ' || g, NULL
            FROM generate_series(1, :n) g
          RETURNING id)
        INSERT INTO memberships (org_id, user_id, role) SELECT :org, id, 'member' FROM new
        """,
        org=org.id, n=n,
    )


def add_activity(org, n: int = GROW_BY) -> None:
    """Pending invitations and audit events: what the org home's panels list."""
    factories.execute(
        """
        INSERT INTO invitations (org_id, email, role, token_hash, expires_at)
        SELECT :org, 'invitee-' || g || '@example.com', 'member',
               sha256(convert_to(gen_random_uuid()::text, 'UTF8')), now() + interval '7 days'
          FROM generate_series(1, :n) g
        """,
        org=org.id, n=n,
    )
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target)"
        " SELECT :org, 'grower', 'member.invite', 'user:' || g FROM generate_series(1, :n) g",
        org=org.id, n=n,
    )


def add_overrides(org) -> None:
    factories.execute(
        "INSERT INTO feature_overrides (org_id, feature, enabled, reason)"
        " SELECT :org, key, true, 'grown' FROM features", org=org.id)


def add_usage(org, days: int = 365) -> None:
    """A year of daily rollups for every metric, and raw events behind them."""
    from dashboard.usage.metrics import METRICS

    factories.execute(
        """
        INSERT INTO usage_daily (org_id, metric, day, total)
        SELECT :org, m, current_date - d, 1 + d
          FROM unnest(CAST(:metrics AS text[])) m, generate_series(0, :days - 1) d
        ON CONFLICT DO NOTHING
        """,
        org=org.id, metrics=list(METRICS), days=days,
    )
    factories.execute(
        """
        INSERT INTO usage_events (org_id, metric, quantity, occurred_at, idempotency_key)
        SELECT :org, 'api_calls', 1, now() - make_interval(hours => g), 'grow-' || g
          FROM generate_series(1, :n) g
        """,
        org=org.id, n=GROW_BY * 10,
    )


# Add a row here for each main page.
PAGES = {
    # the floor (issue 20): the session check, in the statement that sets the RLS context
    "whoami": PageCase("/o/<slug>/whoami.json", budget=1, grow=(add_members, add_activity)),
    # one statement: the session check carries the entitlements, the member count, the
    # getting-started checklist, the newest pending invitations, the newest audit events
    # and the usage sparklines' rollups (issues 20, 21; orgs/home_read.py)
    "org home": PageCase("/o/<slug>/", budget=1, grow=(add_members, add_activity)),
    # the context, and one statement for the org's roles with its entitlements (the
    # navigation's lock marks) and the page of members with their total (issue 20)
    "members": PageCase("/o/<slug>/members", budget=2, grow=(add_members,)),
    "members search": PageCase("/o/<slug>/members", budget=2, grow=(add_members,),
                               query="q=grown"),
    # the context, and one statement for the entitlements and the rollups (issue 20)
    "usage": PageCase("/o/<slug>/usage", budget=2, grow=(add_members, add_usage),
                      query="range=365"),
    # one statement: the session check carries the entitlements and the rollups (issue 20)
    "usage chart data": PageCase("/o/<slug>/usage/data.json", budget=1,
                                 grow=(add_members, add_usage), query="range=365"),
    "plan & features": PageCase("/o/<slug>/plan", budget=6, grow=(add_members, add_overrides)),
}


def endpoint_for(app, rule: str) -> str | None:
    for candidate in app.url_map.iter_rules():
        if candidate.rule.rstrip("/") == rule.rstrip("/") and "GET" in candidate.methods:
            return candidate.endpoint
    return None


def statements_for(app, client, url: str) -> list[str]:
    with recording_statements(app.extensions["tenantdesk.db"].engine) as statements:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return list(statements)


@pytest.mark.parametrize("name", list(PAGES))
def test_page_runs_a_constant_small_number_of_queries(app, client, name):
    case = PAGES[name]
    endpoint = endpoint_for(app, case.rule)
    if endpoint is None:
        pytest.skip(f"{name} page not available yet ({case.rule})")
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "growth")  # 365-day usage is advanced analytics (Growth up)
    login(client, people["owner"])
    url = case.rule.replace("<slug>", org.slug) + (f"?{case.query}" if case.query else "")
    statements_for(app, client, url)  # warm-up: lazy one-off work is not per request

    small = statements_for(app, client, url)
    for grow in case.grow:
        grow(org)
    big = statements_for(app, client, url)

    assert len(big) == len(small), (
        f"{name}: {len(small)} statements with a small org, {len(big)} after growing it",
        big,
    )
    assert len(small) <= case.budget, (name, small)


HUGE = 100_000


def test_members_page_at_100000_members_runs_the_same_statements_and_reads_one_page(app, client):
    """Issue 20: the members page of a 100,000-member org runs the statements it runs for a
    two-member org, and its list query reads one page of memberships (keyset on the index
    inside the org), not the org: the rows the plan takes from memberships are the page's
    (plus one to know that a next page exists), and the users policy's per-person check."""
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    url = f"/o/{org.slug}/members"
    statements_for(app, client, url)  # warm-up
    small = statements_for(app, client, url)
    factories.add_members(org, HUGE, prefix="huge")
    factories.execute("ANALYZE memberships")
    first = client.get(url).get_data(as_text=True)
    assert f"of {HUGE + 2:,} members" in " ".join(first.split())
    next_page = next_page_link(first)

    plans: list[dict] = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if "FROM memberships" in statement and "LIMIT" in statement:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plans.append(cursor.fetchone()[0][0]["Plan"])

    engine = app.extensions["tenantdesk.db"].engine
    assert len(statements_for(app, client, next_page)) == len(small)
    event.listen(engine, "before_cursor_execute", explain)
    try:
        html = client.get(next_page).get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    assert f"Showing 51–100 of {HUGE + 2:,}" in " ".join(html.split())
    assert len(plans) == 1

    def memberships_rows(node) -> float:
        own = (node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
               if node.get("Relation Name") == "memberships" else 0)
        return own + sum(memberships_rows(child) for child in node.get("Plans", []))

    # The page's 51 rows, plus the users policy's look-up of each listed person's membership
    # (people are readable only as members of the current org): a few per listed member, never
    # the org's 100,000.
    assert memberships_rows(plans[0]) <= 4 * 51, plans[0]


# The check (packed with the old org's context) carrying the target look-up (session 10: it
# was a statement of its own, the same read under the same context); the new org's context
# with the switch's writes packed into it (app_switch_session: rotation, last active, last
# org, audit row)
SWITCH_STATEMENTS = 2


def test_the_org_switch_runs_two_statements_however_many_orgs_the_user_has(app, client):
    """Issue 20: POST /switch runs the session check (packed with the RLS context) with the
    target org and its SSO policy in the same statement, then the new org's context statement
    carrying the switch's writes (old session revoked, new one opened, last active, last org,
    audit row: one function call). Not one more for a user of many orgs."""
    org_a, people = factories.org_with_members(me="owner")
    org_b = factories.OrgFactory()
    factories.MembershipFactory(org_id=org_b.id, user_id=people["me"].id, role="member")
    login(client, people["me"])

    def switch_statements(slug: str) -> list[str]:
        token = csrf_token(client, "/switcher")
        with recording_statements(app.extensions["tenantdesk.db"].engine) as statements:
            response = client.post("/switch", data={"csrf_token": token, "slug": slug})
        assert response.status_code == 303, response.status_code
        return list(statements)

    switch_statements(org_b.slug)  # warm-up
    small = switch_statements(org_a.slug)
    for _ in range(GROW_BY // 10):
        extra = factories.OrgFactory()
        factories.MembershipFactory(org_id=extra.id, user_id=people["me"].id, role="member")
    big = switch_statements(org_b.slug)
    assert len(small) == len(big) == SWITCH_STATEMENTS, big
    assert "app_switch_session" in big[-1] and "set_config" in big[-1], big[-1]
    assert "app_user_orgs()" in big[0] and "user_sessions" in big[0], big[0]
