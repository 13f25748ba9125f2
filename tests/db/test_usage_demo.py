"""The demo's 90 days of usage: written under the org's RLS context, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import demo
from tests import factories


def test_demo_usage_history_is_idempotent(runtime_sessions):
    org, people = factories.org_with_members(owner="owner")
    targets = {"acme": (people["owner"].id, org.id, 4)}
    today = datetime.now(UTC).date()

    def snapshot():
        return factories.execute(
            "SELECT metric, count(*), sum(total), min(day), max(day) FROM usage_daily"
            " WHERE org_id = :o GROUP BY metric ORDER BY metric", o=org.id).all()

    demo.seed_usage(runtime_sessions, targets)
    first = snapshot()
    demo.seed_usage(runtime_sessions, targets)
    assert snapshot() == first
    assert [row[0] for row in first] == ["active_users", "api_calls", "seats", "storage_bytes"]
    for _metric, days, _total, since, until in first:
        assert days == demo.USAGE_DAYS
        assert (since, until) == (today - timedelta(days=demo.USAGE_DAYS - 1), today)
    assert factories.execute(
        "SELECT count(*) FROM usage_events WHERE org_id = :o", o=org.id
    ).scalar_one() == 4 * demo.USAGE_DAYS
