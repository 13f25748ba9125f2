"""The usage page in a real browser: charts are drawn from the rollups, the data tables
match them, the range switches through htmx, and the CSP blocks nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import sign_in

pytestmark = pytest.mark.e2e
TODAY = datetime.now(UTC).date()


@pytest.fixture
def usage_org():
    tag = factories.unique("use")
    org = factories.OrgFactory(name=f"Usage {tag}", slug=f"usage-{tag}")
    user = factories.UserFactory()
    factories.MembershipFactory(org_id=org.id, user_id=user.id, role="owner")
    factories.FeatureOverrideFactory(org_id=org.id, feature="advanced-analytics")  # 90 days
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org.id, u=user.id)
    factories.execute(
        "INSERT INTO usage_daily (org_id, metric, day, total)"
        " SELECT :o, 'api_calls', CAST(:today AS date) - i, 20 + (i * 7) % 31"
        "   FROM generate_series(0, 120) i"
        " UNION ALL SELECT :o, 'storage_bytes', CAST(:today AS date) - i, 50000000 - i * 100000"
        "   FROM generate_series(0, 120, 3) i",
        o=org.id, today=TODAY,
    )
    return org, user


def rollups(org, metric: str, days: int) -> dict[str, str]:
    rows = factories.execute(
        "SELECT day, total FROM usage_daily WHERE org_id = :o AND metric = :m AND day > :s",
        o=org.id, m=metric, s=TODAY - timedelta(days=days)).all()
    return {d.isoformat(): str(t) for d, t in rows}


def table_of(page, metric: str) -> dict[str, str]:
    cells = page.locator(f'[data-testid="table-{metric}"] tbody tr').evaluate_all(
        """rows => rows.map(r => [r.querySelector('time').getAttribute('datetime'),
                                  r.querySelector('td[data-value]').dataset.value])"""
    )
    return {day: value for day, value in cells if value not in ("", "0")}


def test_charts_are_drawn_and_tables_match_the_rollups(page, usage_org):
    org, user = usage_org
    violations = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    sign_in(page, user)
    page.goto(f"/o/{org.slug}/usage?range=30")

    chart = page.locator("#usage-chart-api_calls")
    expect(chart).to_be_visible()
    line = chart.locator(".serie-0 path.line")
    box = line.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 20  # a real, drawn line
    points = re.findall(r"[-0-9.]+ [-0-9.]+", line.get_attribute("d"))
    assert len(points) >= 29  # the complete days; today is drawn apart, as partial
    today = chart.locator(".partial path.line")
    assert today.evaluate("el => getComputedStyle(el).strokeDasharray") != "none"
    stroke = line.evaluate("el => getComputedStyle(el).stroke")
    assert stroke not in ("none", "")  # usage.css styled it: the CSP blocked nothing needed
    quota = chart.locator(".serie-1 path.line")  # the free plan's API quota, dashed
    expect(quota).to_have_count(1)
    assert quota.evaluate("el => getComputedStyle(el).strokeDasharray") != "none"

    page.get_by_text("Data table: API calls, last 30 days").click()
    expect(page.locator('[data-testid="table-api_calls"]')).to_be_visible()
    assert table_of(page, "api_calls") == rollups(org, "api_calls", 30)
    assert table_of(page, "storage_bytes") == rollups(org, "storage_bytes", 30)

    page.get_by_role("link", name="90 days").click()  # htmx swaps the charts in place
    expect(page.locator("#usage-charts")).to_have_attribute("data-range", "90")
    expect(page).to_have_url(re.compile(r"range=90"))
    assert table_of(page, "api_calls") == rollups(org, "api_calls", 90)
    big = page.locator("#usage-chart-api_calls .serie-0 path.line").get_attribute("d")
    assert len(re.findall(r"[-0-9.]+ [-0-9.]+", big)) >= 89
    assert violations == []


def test_home_shows_sparklines(page, usage_org):
    org, user = usage_org
    sign_in(page, user)
    page.goto(f"/o/{org.slug}/")
    spark = page.locator("#usage-spark-api_calls .serie-0 path.line")
    box = spark.bounding_box()
    assert box and box["width"] > 100
