"""The usage cache (dashboard/usage/cache.py) serves nothing the database would not.

Reports are kept per worker under the org and the org's rollup revision; whether a kept
report may be served is decided by the revision read under RLS on every call. These tests
fill the cache first, then try to get it to answer for another org, after a new rollup, and
for a member removed since.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard import tenancy
from dashboard.usage import reports, service
from dashboard.usage.cache import REPORTS, RevisionCache
from dashboard.usage.service import EventIn
from tests import factories
from tests.helpers import login

NOW = datetime.now(UTC)
MARKER = 987_654_321  # B's figure: must never reach anyone acting for A


def acting(runtime_sessions, org, user):
    return tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=user.id, org_id=org.id)
    )


def ingest(runtime_sessions, org, user, quantity: int, key: str) -> None:
    with acting(runtime_sessions, org, user) as session:
        service.record_batch(session, org.id, [EventIn("seats", quantity, NOW, key)],
                             enforce_quotas=False)


def total(report, metric: str = "seats"):
    return next(m for m in report.metrics if m.metric.name == metric).total


@pytest.fixture
def orgs(runtime_sessions):
    org_a, people_a = factories.org_with_members(owner="owner", member="member")
    org_b, people_b = factories.org_with_members(owner="owner")
    ingest(runtime_sessions, org_a, people_a["owner"], 11, "a-1")
    ingest(runtime_sessions, org_b, people_b["owner"], MARKER, "b-1")
    return (org_a, people_a), (org_b, people_b)


def test_a_kept_report_is_served_only_while_the_revision_holds(runtime_sessions, orgs):
    (org_a, people), _ = orgs
    with acting(runtime_sessions, org_a, people["owner"]) as session:
        first = reports.usage_report(session, org_a.id, 30)
        assert reports.usage_report(session, org_a.id, 30) is first  # a hit: rows not read
    assert total(first) == 11
    ingest(runtime_sessions, org_a, people["owner"], 40, "a-2")  # a new rollup (peak 40)
    with acting(runtime_sessions, org_a, people["owner"]) as session:
        after = reports.usage_report(session, org_a.id, 30)
    assert after is not first and total(after) == 40  # never the stale 11


def test_bs_kept_report_never_answers_for_a(runtime_sessions, orgs, client):
    (org_a, people_a), (org_b, people_b) = orgs
    with acting(runtime_sessions, org_b, people_b["owner"]) as session:
        kept = reports.usage_report(session, org_b.id, 30)  # B's report now in the cache
        assert reports.usage_report(session, org_b.id, 30) is kept
    assert total(kept) == MARKER
    with acting(runtime_sessions, org_a, people_a["owner"]) as session:
        # B's id (so B's key, B's kept revision) while acting for A: only RLS can refuse.
        report = reports.usage_report(session, org_b.id, 30)
    assert report is not kept
    assert all(m.total in (0, None) for m in report.metrics)
    with acting(runtime_sessions, org_b, people_b["owner"]) as session:
        assert reports.usage_report(session, org_b.id, 30) is kept  # B's entry untouched
    login(client, people_a["owner"])
    for path in ("usage?range=30", "usage/data.json?range=30", "usage.csv?range=30"):
        body = client.get(f"/o/{org_a.slug}/{path}").get_data(as_text=True)
        assert "987654321" not in body and "987,654,321" not in body, path


def test_a_member_removed_since_gets_nothing_kept(runtime_sessions, orgs, client):
    (org_a, people), _ = orgs
    member = people["member"]
    login(client, member)
    url = f"/o/{org_a.slug}/usage/data.json?range=30"
    assert client.get(url).get_json()["metrics"]  # the member's view fills the cache
    with acting(runtime_sessions, org_a, member) as session:
        kept = reports.usage_report(session, org_a.id, 30)
        assert total(kept) == 11
        # Removed while this transaction is open: the very next statement must not serve
        # the kept report (READ COMMITTED: the gate sees the removal).
        factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                          o=org_a.id, u=member.id)
        report = reports.usage_report(session, org_a.id, 30)
        assert report is not kept
        assert all(m.total in (0, None) for m in report.metrics)
    response = client.get(url)
    assert response.status_code in (302, 303, 401, 403, 404)
    assert b"metrics" not in response.get_data()


def test_the_cache_is_bounded_and_never_keeps_what_has_no_revision():
    cache = RevisionCache(max_entries=2)
    cache.put(("a",), 1, "A")
    cache.put(("b",), 1, "B")
    assert cache.get(("a",), 1) == "A"  # a is now the most recently used
    cache.put(("c",), 1, "C")
    assert len(cache) == 2 and cache.get(("b",), 1) is None  # b went first
    assert cache.get(("a",), 2) is None  # another revision: not served
    assert cache.get(("a",), None) is None  # no revision readable: never served
    cache.put(("d",), None, "D")
    assert cache.revision_of(("d",)) is None


def test_only_the_ingest_statement_writes_rollups_and_it_raises_the_revision():
    """A writer of usage_daily that did not raise the revision would let the cache serve
    stale figures: the app's only writer is the ingest statement, which does."""
    root = Path(reports.__file__).resolve().parents[1]
    writers = [
        path for path in root.rglob("*.py")
        if any(w in path.read_text() for w in (
            "INTO usage_daily", "UPDATE usage_daily", "DELETE FROM usage_daily"))
    ]
    assert writers == [Path(service.__file__).resolve()]
    assert "INSERT INTO usage_revisions" in service._INGEST_TEMPLATE
    assert REPORTS.max_entries > 0
