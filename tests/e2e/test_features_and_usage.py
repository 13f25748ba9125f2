"""A feature-gated page with the feature off, on (staff override) and off again; usage charts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.e2e.support import sign_in, sign_out

pytestmark = pytest.mark.e2e


def _nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Organization").get_by_role("link", name=label).click()


def _staff_override(page: Page, org, state: str) -> None:
    """As staff: set the org's audit-export feature to ``state`` ("On"/"Off")."""
    page.goto(f"/admin/orgs/{org.id}/plan")
    form = page.locator("section", has=page.get_by_role("heading", name="Override a feature"))
    form.get_by_label("Feature").select_option("audit-export")
    form.get_by_label(state, exact=True).check()
    form.get_by_label("Reason").fill("End-to-end test of the feature gate")
    form.get_by_role("button", name="Set override").click()
    expect(page.get_by_role("status").filter(
        has_text=f"audit-export is now {state.lower()}")).to_be_visible()


def test_feature_gated_export_off_on_off(new_context):
    org, people = factories.org_with_members(owner="owner")  # free plan: no audit export
    staff = factories.UserFactory(name="Sam Staff")
    factories.make_staff(staff)
    owner = new_context().new_page()
    admin = new_context().new_page()
    sign_in(owner, people["owner"])
    sign_in(admin, staff)

    _nav(owner, "Audit log")
    expect(owner.get_by_text("CSV export is not included in your plan.")).to_be_visible()
    expect(owner.get_by_role("link", name="Download CSV")).to_have_count(0)
    owner.goto(f"/o/{org.slug}/audit.csv")
    expect(owner.get_by_test_id("feature-not-included")).to_be_visible()
    heading = owner.get_by_role("heading", name=re.compile("not included in your plan"))
    expect(heading).to_be_visible()

    _staff_override(admin, org, "On")
    _nav_to_audit(owner, org)
    with owner.expect_download() as download:
        owner.get_by_role("link", name="Download CSV").click()
    csv_text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    assert csv_text.startswith("time,actor,action"), csv_text[:200]
    assert "auth.login" in csv_text

    _staff_override(admin, org, "Off")
    _nav_to_audit(owner, org)
    expect(owner.get_by_role("link", name="Download CSV")).to_have_count(0)
    owner.goto(f"/o/{org.slug}/audit.csv")
    expect(owner.get_by_test_id("feature-not-included")).to_be_visible()
    sign_out(owner)


def _nav_to_audit(page: Page, org) -> None:
    page.goto(f"/o/{org.slug}/")
    _nav(page, "Audit log")
    page.wait_for_url(re.compile(rf"/o/{org.slug}/audit"))


def test_usage_charts_are_drawn_and_follow_the_range(page):
    org, people = factories.org_with_members(owner="owner")
    today = datetime.now(UTC).date()
    daily = {today - timedelta(days=n): 100 + 10 * n for n in range(1, 11)}
    for day, total in daily.items():
        factories.usage_daily(org, "api_calls", day, total)

    sign_in(page, people["owner"])
    _nav(page, "Usage")
    page.wait_for_url(re.compile(rf"/o/{org.slug}/usage"))
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    chart = page.locator("svg#usage-chart-api_calls")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 80, box
    # The series is drawn: a line across the plot that rises and falls with the data.
    series = chart.locator("g.serie-0 path.line")
    expect(series).to_be_visible()
    line_box = series.bounding_box()
    assert line_box and line_box["width"] > 200 and line_box["height"] > 20, line_box
    expect(chart).not_to_contain_text("No usage yet")
    expect(page.get_by_test_id("total-api_calls")).to_have_text(f"{sum(daily.values()):,}")

    # The range switch redraws in place (htmx) and keeps the URL shareable.
    page.get_by_role("navigation", name="Time range").get_by_role("link", name="7 days").click()
    expect(page.locator("#usage-charts")).to_have_attribute("data-range", "7")
    expect(page).to_have_url(re.compile(r"range=7"))
    expect(page.locator("svg#usage-chart-api_calls g.serie-0 path.line")).to_be_visible()
    week = sum(t for d, t in daily.items() if d > today - timedelta(days=7))
    assert page.get_by_test_id("total-api_calls").inner_text() in (
        f"{week:,}", f"{week + daily.get(today - timedelta(days=7), 0):,}")
    sign_out(page)
