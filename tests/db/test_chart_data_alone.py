"""Issue 20, session 10: the usage chart data (``/o/<slug>/usage/data.json``) runs its two
statements (the session check, then the entitlements and rollups) each as a transaction of
its own, packed into its context statement: no BEGIN, no COMMIT. Every check still runs:
the read's own context statement asks the gate again, so a member removed (or an org
suspended) between the check and the read gets nothing."""

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
    return org, people


def test_chart_data_statements_are_each_their_own_transaction(app, client):
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
            assert seen == ["IDLE", "IDLE"], seen
    finally:
        stop()


@pytest.mark.parametrize("change", ["remove member", "suspend org"])
def test_chart_data_read_rechecks_the_gate_after_the_session_check(app, client, monkeypatch,
                                                                   change):
    """The member is removed (or the org suspended) after the session check passed and
    before the read's own statement: the read's context statement finds no org, no row is
    answered, the cached report of the previous request is not served."""
    from dashboard.licenses.service import OrgNotVisible
    from dashboard.usage import reports

    org, people = _org_with_usage()
    login(client, people["bob"])
    url = URL.format(slug=org.slug)
    assert client.get(url).get_json()["metrics"][0]["total"] == 41  # a report now cached
    original = reports.RollupRead._read_alone

    def race(self, session, org_id):
        if change == "remove member":
            factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                              o=org.id, u=people["bob"].id)
        else:
            factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o",
                              o=org.id)
        return original(self, session, org_id)

    monkeypatch.setattr(reports.RollupRead, "_read_alone", race)
    try:
        answer = client.get(url)
    except OrgNotVisible:
        return  # refused: nothing answered
    assert answer.status_code >= 400
    assert b"41" not in answer.get_data()


def test_chart_data_of_another_org_stays_refused(client):
    org, people = _org_with_usage()
    other, others = _org_with_usage()
    login(client, people["bob"])
    assert client.get(URL.format(slug=org.slug)).status_code == 200
    refused = client.get(URL.format(slug=other.slug))
    assert refused.status_code in (302, 403, 404)
    assert b"41" not in refused.get_data()
