"""Issue 20: the usage chart data (``/o/<slug>/usage/data.json``) is one statement, a
transaction of its own (no BEGIN, no COMMIT): the entitlements and the rollups ride in the
session check's statement (session 11; two statements each alone in session 10). Every check
still runs in it: a member removed (or an org suspended) since the previous request gets
nothing, and the report that request left in the revision cache is not served."""

from __future__ import annotations

import pytest

from tests import factories
from tests.db.test_cost_floor import _transaction_status_after_each_statement
from tests.helpers import login

URL = "/o/{slug}/usage/data.json?range=30&metric=api_calls"


def _org_with_usage():
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.execute("INSERT INTO usage_daily (org_id, metric, day, total)"
                      " VALUES (:o, 'api_calls', current_date, 41)", o=org.id)
    # as the ingest statement does: a revision, so reports are kept (usage/cache.py)
    factories.execute("INSERT INTO usage_revisions (org_id, revision) VALUES (:o, 1)", o=org.id)
    return org, people


def test_chart_data_is_one_statement_of_its_own(app, client):
    org, people = _org_with_usage()
    login(client, people["bob"])
    url = URL.format(slug=org.slug)
    assert client.get(url).status_code == 200  # warm-up
    seen, stop = _transaction_status_after_each_statement(app)
    try:
        for _ in range(2):  # the rows read, then the revision cache's hit
            seen.clear()
            answer = client.get(url)
            assert answer.status_code == 200
            assert answer.get_json()["metrics"][0]["total"] == 41
            assert seen == ["IDLE"], seen
    finally:
        stop()


@pytest.mark.parametrize("change", ["remove member", "suspend org"])
def test_chart_data_read_is_checked_with_the_session(client, change):
    """The member is removed (or the org suspended) after a request left its report in the
    revision cache: the next request's one statement finds no membership (or no active
    org), reads no revision, and nothing kept is served."""
    org, people = _org_with_usage()
    login(client, people["bob"])
    url = URL.format(slug=org.slug)
    assert client.get(url).get_json()["metrics"][0]["total"] == 41  # a report now cached
    if change == "remove member":
        factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                          o=org.id, u=people["bob"].id)
    else:
        factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o",
                          o=org.id)
    answer = client.get(url)
    assert answer.status_code >= 400
    assert "metrics" not in (answer.get_json(silent=True) or {})  # no data (no total of 41)


def test_chart_data_serves_the_revision_read_with_the_session(client):
    """A rollup committed after a report was cached raises the org's revision: the next
    request's statement returns the new revision and its rows, not the kept report."""
    org, people = _org_with_usage()
    login(client, people["bob"])
    url = URL.format(slug=org.slug)
    assert client.get(url).get_json()["metrics"][0]["total"] == 41
    assert client.get(url).get_json()["metrics"][0]["total"] == 41  # served from the cache
    factories.execute("UPDATE usage_daily SET total = 43 WHERE org_id = :o", o=org.id)
    factories.execute("UPDATE usage_revisions SET revision = revision + 1 WHERE org_id = :o",
                      o=org.id)
    assert client.get(url).get_json()["metrics"][0]["total"] == 43


def test_chart_data_of_another_org_stays_refused(client):
    org, people = _org_with_usage()
    other, others = _org_with_usage()
    login(client, people["bob"])
    assert client.get(URL.format(slug=org.slug)).status_code == 200
    refused = client.get(URL.format(slug=other.slug))
    assert refused.status_code in (302, 403, 404)
    assert "metrics" not in (refused.get_json(silent=True) or {})  # no data (no total of 41)
