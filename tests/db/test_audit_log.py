"""The audit log: per-org reading, filters, CSV, append-only, same-transaction writes."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from dashboard.audit.service import Actor, record_audit
from tests import factories
from tests.helpers import login


@pytest.fixture
def audited_orgs():
    org_a, people_a = factories.org_with_members(owner="owner", bob="member")
    org_b, people_b = factories.org_with_members(owner="owner")
    for org, actor, marker in ((org_a, "alice-actor", "a"), (org_b, "zed-secret-actor", "b")):
        for i in range(3):
            factories.execute(
                "INSERT INTO audit_events (org_id, actor, action, target, at)"
                " VALUES (:o, :actor, :action, :target, now() - make_interval(days => :d))",
                o=org.id, actor=actor, action=f"thing.{marker}{i % 2}",
                target=f"target-{marker}-{i}", d=i * 10,
            )
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target)"
        " VALUES (:o, '=HYPERLINK(\"http://evil\")', 'csv.check', '+1')", o=org_a.id)
    return (org_a, people_a), (org_b, people_b)


def test_page_lists_only_this_orgs_events(client, audited_orgs):
    (org_a, people_a), (org_b, _) = audited_orgs
    login(client, people_a["owner"])
    html = client.get(f"/o/{org_a.slug}/audit").get_data(as_text=True)
    assert "alice-actor" in html and "target-a-2" in html
    assert "zed-secret-actor" not in html and "target-b" not in html


def test_filters_by_action_actor_and_date(client, audited_orgs):
    (org_a, people_a), _ = audited_orgs
    login(client, people_a["owner"])
    html = client.get(f"/o/{org_a.slug}/audit?action=thing.a1").get_data(as_text=True)
    assert "target-a-1" in html and "target-a-0" not in html
    html = client.get(f"/o/{org_a.slug}/audit?actor=ALICE").get_data(as_text=True)
    assert "target-a-0" in html
    html = client.get(f"/o/{org_a.slug}/audit?actor=%25").get_data(as_text=True)
    assert "target-a-0" not in html  # '%' is a literal, not a wildcard
    from datetime import UTC, datetime, timedelta

    since = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    html = client.get(f"/o/{org_a.slug}/audit?from={since}").get_data(as_text=True)
    assert "target-a-0" in html and "target-a-1" not in html


def test_htmx_returns_the_results_fragment(client, audited_orgs):
    (org_a, people_a), _ = audited_orgs
    login(client, people_a["owner"])
    response = client.get(f"/o/{org_a.slug}/audit", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<div id="audit-results">')


@pytest.mark.parametrize("query", ["from=yesterday", "from=2026-02-10&to=2026-01-01",
                                   "cursor=not-a-cursor", "cursor=" + "A" * 300])
def test_bad_filters_are_a_clear_400(client, audited_orgs, query):
    (org_a, people_a), _ = audited_orgs
    login(client, people_a["owner"])
    response = client.get(f"/o/{org_a.slug}/audit?{query}")
    assert response.status_code == 400
    assert "form-error" in response.get_data(as_text=True)


def test_pagination_walks_every_event_once(client, audited_orgs, app):
    (org_a, people_a), _ = audited_orgs
    for i in range(120):
        factories.execute("INSERT INTO audit_events (org_id, actor, action, target)"
                          " VALUES (:o, 'bulk', 'bulk.event', :t)", o=org_a.id, t=f"bulk-{i}")
    login(client, people_a["owner"])
    seen, url = [], f"/o/{org_a.slug}/audit?action=bulk.event"
    import re

    while url:
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(r"bulk-\d+", html)
        more = re.search(r'href="([^"]*cursor=[^"]+)"', html)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert sorted(seen) == sorted(f"bulk-{i}" for i in range(120))


def test_csv_export_has_this_orgs_rows_and_defuses_formulas(client, audited_orgs):
    (org_a, people_a), _ = audited_orgs
    factories.put_on_plan(org_a, "growth")  # audit export is a plan feature
    login(client, people_a["owner"])
    response = client.get(f"/o/{org_a.slug}/audit.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0][:3] == ["time", "actor", "action"]
    body = response.get_data(as_text=True)
    assert "zed-secret-actor" not in body
    formula_row = next(r for r in table if r[2] == "csv.check")
    assert formula_row[1].startswith("'=") and formula_row[3] == "'+1"


def test_members_without_audit_view_are_refused(client, audited_orgs):
    (org_a, people_a), _ = audited_orgs
    login(client, people_a["bob"])
    assert client.get(f"/o/{org_a.slug}/audit").status_code == 403
    assert client.get(f"/o/{org_a.slug}/audit.csv").status_code == 403


def test_runtime_role_cannot_edit_or_erase_history(audited_orgs, runtime_sessions):
    (org_a, people_a), _ = audited_orgs
    context = tenancy.TenantContext(user_id=people_a["owner"].id, org_id=org_a.id)
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with (
            pytest.raises(DBAPIError, match="permission denied"),
            tenancy.scoped_session(runtime_sessions, context) as session,
        ):
            session.execute(text(statement))


def test_a_failed_audit_write_rolls_the_action_back(audited_orgs, runtime_sessions):
    (org_a, people_a), (org_b, _) = audited_orgs
    context = tenancy.TenantContext(user_id=people_a["owner"].id, org_id=org_a.id)
    with pytest.raises(DBAPIError), tenancy.scoped_session(runtime_sessions, context) as session:
        session.execute(text("UPDATE organizations SET name = 'Renamed'"))
        # Writing the record into another org is refused by RLS, and takes the action with it.
        record_audit(session, org_id=org_b.id, actor=Actor("x"), action="org.rename")
    name = factories.execute("SELECT name FROM organizations WHERE id = :o", o=org_a.id).scalar()
    assert name != "Renamed"


def test_the_download_button_follows_the_audit_export_feature(client, audited_orgs):
    (org_a, people_a), _ = audited_orgs
    login(client, people_a["owner"])
    page = client.get(f"/o/{org_a.slug}/audit").get_data(as_text=True)
    assert "Download CSV" not in page and "not included in your plan" in page
    factories.put_on_plan(org_a, "growth")
    assert "Download CSV" in client.get(f"/o/{org_a.slug}/audit").get_data(as_text=True)


def test_date_filters_are_days_in_the_readers_time_zone(client):
    """An event at 23:30 UTC on 2 March is 3 March for a reader in Tokyo (UTC+9): it is found
    by filtering on 3 March there, not on 2 March."""
    org, people = factories.org_with_members(owner="owner")
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target, at)"
        " VALUES (:o, 'someone', 'zone.check', 'late-evening-utc', '2026-03-02 23:30:00+00')",
        o=org.id,
    )
    login(client, people["owner"])

    def found(day: str) -> bool:
        html = client.get(f"/o/{org.slug}/audit?from={day}&to={day}").get_data(as_text=True)
        return "late-evening-utc" in html

    assert found("2026-03-02") and not found("2026-03-03")  # UTC until a zone is known
    factories.execute("UPDATE users SET time_zone = 'Asia/Tokyo' WHERE id = :u",
                      u=people["owner"].id)
    assert found("2026-03-03") and not found("2026-03-02")
    html = client.get(f"/o/{org.slug}/audit?from=2026-03-03").get_data(as_text=True)
    assert 'value="2026-03-03"' in html and "Asia/Tokyo" in html
