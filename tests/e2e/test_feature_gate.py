"""A feature-gated page with the feature off, on (staff override) and off again."""

from __future__ import annotations

import re

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
