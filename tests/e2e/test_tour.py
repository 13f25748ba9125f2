"""The whole journey of issue 9, as a person clicks it, in one flow:

sign in -> switch org from the top bar -> invite a colleague -> the invitation mail arrives at
a real SMTP server -> the colleague opens its link and joins -> change their role inline ->
a feature-gated page with the feature off, then on (staff override) -> usage charts drawn ->
sign out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import (
    expect_org_page,
    nav_to,
    sign_in,
    sign_out,
    staff_set_feature,
    switch_org,
)

pytestmark = pytest.mark.e2e


def test_the_whole_journey(new_context, smtp_server):
    tag = factories.unique("tour")
    dana = factories.UserFactory(name=f"Dana {tag}")
    anvil = factories.OrgFactory(name=f"Anvil {tag}", slug=f"anvil-{tag}")
    beacon = factories.OrgFactory(name=f"Beacon {tag}", slug=f"beacon-{tag}")  # free plan
    for org in (anvil, beacon):
        factories.MembershipFactory(org_id=org.id, user_id=dana.id, role="owner")
    factories.MembershipFactory(org_id=beacon.id, role="member")
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=anvil.id, u=dana.id)
    today = datetime.now(UTC).date()
    for n in range(1, 15):
        factories.usage_daily(beacon, "api_calls", today - timedelta(days=n), 40 + 5 * n)
    staff = factories.UserFactory(name=f"Sam Staff {tag}")
    factories.make_staff(staff)
    newcomer_email = f"newcomer.{tag}@example.com"

    page = new_context().new_page()
    sign_in(page, dana)
    expect_org_page(page, anvil.name)
    expect(page.get_by_test_id("member-count")).to_have_text("1")

    # Switch from the top bar: URL, name and content change.
    switch_org(page, beacon.name, beacon.slug)
    expect_org_page(page, beacon.name)
    expect(page.get_by_test_id("org-title")).to_have_text(beacon.name)
    expect(page.get_by_test_id("member-count")).to_have_text("2")

    # Invite a colleague; the mail goes through a real SMTP server.
    nav_to(page, "Invitations")
    page.get_by_label("Email addresses").fill(newcomer_email)
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_role("status").filter(has_text=f"Invitation sent to {newcomer_email}"))\
        .to_be_visible()
    mail = smtp_server.wait_for(to=newcomer_email)
    assert beacon.name in smtp_server.text_of(mail)
    link = smtp_server.first_link(mail, containing="/invitations/")

    # The colleague opens the link in their own browser and joins.
    colleague = new_context().new_page()
    colleague.goto(link)
    expect(colleague.get_by_role("heading", name=f"Join {beacon.name}")).to_be_visible()
    colleague.get_by_label("Your name").fill(f"Nia Newcomer {tag}")
    colleague.get_by_label("Choose a password").fill("a long enough passphrase 42")
    colleague.get_by_label("Repeat the password").fill("a long enough passphrase 42")
    colleague.get_by_role("button", name="Create account and join").click()
    colleague.wait_for_url(re.compile(rf"/o/{beacon.slug}/"))
    expect_org_page(colleague, beacon.name)
    expect(colleague.get_by_test_id("my-role")).to_have_text("Member")

    # Change the colleague's role inline on the members page (htmx, no page load).
    nav_to(page, "Members")
    row = page.get_by_test_id("member-row").filter(has_text=newcomer_email)
    row.get_by_label(f"Role of Nia Newcomer {tag}").select_option("admin")
    expect(page.get_by_test_id("member-row").filter(has_text=newcomer_email)
           .get_by_role("status")).to_have_text("Saved")
    colleague.reload()
    expect(colleague.get_by_test_id("my-role")).to_have_text("Admin")

    # A feature-gated page: off on the free plan, on once staff turns the feature on.
    nav_to(page, "Audit log")
    expect(page.get_by_text("CSV export is not included in your plan.")).to_be_visible()
    page.goto(f"/o/{beacon.slug}/audit.csv")
    expect(page.get_by_test_id("feature-not-included")).to_be_visible()
    admin = new_context().new_page()
    sign_in(admin, staff)
    staff_set_feature(admin, beacon, "audit-export", "On")
    page.goto(f"/o/{beacon.slug}/")
    nav_to(page, "Audit log")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported.startswith("time,actor,action") and newcomer_email in exported

    # Usage charts are drawn from the org's figures.
    nav_to(page, "Usage")
    chart = page.locator("svg#usage-chart-api_calls")
    expect(chart).to_be_visible()
    line = chart.locator("g.serie-0 path.line")
    expect(line).to_be_visible()
    box = line.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 20, box

    sign_out(page)
    page.goto(f"/o/{beacon.slug}/")
    expect(page).to_have_url(re.compile(r"/login"))
    sign_out(colleague)
