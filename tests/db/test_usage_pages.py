"""The usage page, its htmx fragment, CSV, JSON and the home sparklines, from the rollups."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.usage.metrics import METRICS
from tests import factories
from tests.helpers import login

TODAY = datetime.now(UTC).date()


@pytest.fixture
def org_with_usage(client):
    org, people = factories.org_with_members(owner="owner", bob="member", gus="guest")
    # 90- and 365-day ranges are "advanced analytics" (tests/security/test_catalogue_honesty)
    factories.FeatureOverrideFactory(org_id=org.id, feature="advanced-analytics")
    # 400 days: api_calls 1000 + i, storage every other day, active users 1..5 (i = days ago).
    factories.execute(
        """
        INSERT INTO usage_daily (org_id, metric, day, total)
        SELECT :o, 'api_calls', CAST(:today AS date) - i, 1000 + i FROM generate_series(0, 399) i
        UNION ALL
        SELECT :o, 'storage_bytes', CAST(:today AS date) - i, 10000000 + i
          FROM generate_series(0, 399, 2) i
        UNION ALL
        SELECT :o, 'active_users', CAST(:today AS date) - i, 1 + i % 5
          FROM generate_series(0, 399) i
        """,
        o=org.id, today=TODAY,
    )
    return org, people


def rollups(org, days):
    since = TODAY - timedelta(days=days - 1)
    rows = factories.execute(
        "SELECT metric, day, total FROM usage_daily WHERE org_id = :o AND day >= :s",
        o=org.id, s=since).all()
    return {(m, d.isoformat()): t for m, d, t in rows}


def table_values(html: str, metric: str) -> dict[str, str]:
    table = html.split(f'data-testid="table-{metric}"', 1)[1].split("</table>", 1)[0]
    return dict(re.findall(r'<time datetime="([0-9-]+)">.*?data-value="([0-9]*)"', table, re.S))


@pytest.mark.parametrize("days", [7, 30, 90, 365])
def test_each_range_draws_every_metric_and_its_table_equals_the_rollups(
    client, org_with_usage, days
):
    org, people = org_with_usage
    login(client, people["bob"])  # members hold usage.view
    response = client.get(f"/o/{org.slug}/usage?range={days}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    expected = rollups(org, days)
    for metric in METRICS:
        svg = re.search(rf'<svg[^>]*id="usage-chart-{metric}".*?</svg>', html, re.S)
        assert svg, metric
        assert "<style" not in svg.group(0) and "<script" not in svg.group(0)
        values = table_values(html, metric)
        assert len(values) == days
        for day, value in values.items():
            stored = expected.get((metric, day))
            if METRICS[metric].is_gauge:
                assert value == ("" if stored is None else str(stored)), (metric, day)
            else:
                assert value == str(stored or 0), (metric, day)
    assert f'aria-current="page">{days} days' in html


def test_totals_and_change_against_the_previous_period(client, org_with_usage):
    org, people = org_with_usage
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/usage?range=7").get_data(as_text=True)
    current = sum(1000 + i for i in range(7))
    previous = sum(1000 + i for i in range(7, 14))
    assert f'data-testid="total-api_calls">{current:,}<' in html
    change = 100 * (current - previous) / previous
    assert f'data-testid="change-api_calls">{change:+.1f} %<' in html


def test_htmx_range_switch_returns_only_the_charts_fragment(client, org_with_usage):
    org, people = org_with_usage
    login(client, people["owner"])
    response = client.get(f"/o/{org.slug}/usage?range=90", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="usage-charts" data-range="90">')
    assert "<html" not in html


def test_range_links_work_without_javascript(client, org_with_usage):
    org, people = org_with_usage
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/usage").get_data(as_text=True)
    for days in (7, 30, 90, 365):
        assert f'href="/o/{org.slug}/usage?range={days}"' in html
    assert f'href="/o/{org.slug}/usage.csv?range=30"' in html


@pytest.mark.parametrize("bad", ["0", "31", "abc", "-7", "3650"])
def test_unknown_ranges_are_a_clear_400(client, org_with_usage, bad):
    org, people = org_with_usage
    login(client, people["owner"])
    assert client.get(f"/o/{org.slug}/usage?range={bad}").status_code == 400
    assert client.get(f"/o/{org.slug}/usage.csv?range={bad}").status_code == 400
    response = client.get(f"/o/{org.slug}/usage/data.json?range={bad}")
    assert response.status_code == 400 and response.get_json()["error"]["code"]


def test_csv_equals_the_rollups(client, org_with_usage):
    org, people = org_with_usage
    login(client, people["owner"])
    response = client.get(f"/o/{org.slug}/usage.csv?range=90")
    assert response.mimetype == "text/csv"
    assert f"usage-{org.slug}-90d.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["metric", "day", "value"]
    expected = rollups(org, 90)
    assert len(rows) == 1 + 90 * len(METRICS)
    for metric, day, value in rows[1:]:
        stored = expected.get((metric, day))
        if stored is None:
            assert value in ("", "0")
        else:
            assert int(value) == stored


def test_json_chart_data(client, org_with_usage):
    org, people = org_with_usage
    login(client, people["owner"])
    data = client.get(f"/o/{org.slug}/usage/data.json?range=365&metric=api_calls").get_json()
    [series] = data["metrics"]
    assert series["metric"] == "api_calls" and len(series["days"]) == 365
    assert series["days"][-1] == [TODAY.isoformat(), 1000]
    assert series["quota"]["limit"] == factories.plan_quota("free", "api_calls")
    assert series["quota"]["period"] == "month"
    assert client.get(f"/o/{org.slug}/usage/data.json?metric=nope").status_code == 400


def test_guests_cannot_see_usage(client, org_with_usage):
    org, people = org_with_usage
    login(client, people["gus"])
    for path in ("usage", "usage.csv", "usage/data.json"):
        assert client.get(f"/o/{org.slug}/{path}").status_code == 403
    assert "usage-home" not in client.get(f"/o/{org.slug}/").get_data(as_text=True)


def test_quota_banner_at_80_percent(client):
    org, people = factories.org_with_members(owner="owner")
    limit = factories.plan_quota("free", "api_calls")
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/usage").get_data(as_text=True)
    assert 'data-testid="quota-banner"' not in html
    factories.usage_daily(org, "api_calls", TODAY, limit * 8 // 10)
    html = client.get(f"/o/{org.slug}/usage").get_data(as_text=True)
    assert 'data-testid="quota-banner"' in html and "80 %" in html
    assert "this month" in html


def test_home_page_shows_sparklines_of_the_main_metrics(client, org_with_usage):
    org, people = org_with_usage
    login(client, people["bob"])
    html = client.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert 'id="usage-spark-api_calls"' in html and 'id="usage-spark-active_users"' in html
    assert f"{sum(1000 + i for i in range(30)):,}" in html
    assert "<style" not in html and "<script>" not in html
