"""Times in the person's own zone: taken from the browser on the first sign-in, changed on the
profile page; shown absolute and relative with the full timestamp on hover. Audit actions
and permissions by their readable names. "Last active" says "just now" for someone at work."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import nav_to, sign_in

pytestmark = pytest.mark.e2e


def _zone_of(user) -> str | None:
    return factories.execute("SELECT time_zone FROM users WHERE id = :u", u=user.id).scalar()


def test_the_browsers_zone_is_taken_once_and_the_profile_changes_it(new_context):
    org, people = factories.org_with_members(owner="owner", colleague="member")
    owner = people["owner"]
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org.id, u=owner.id)
    page = new_context(timezone_id="Asia/Tokyo").new_page()
    sign_in(page, owner)
    _wait_for_zone(owner, "Asia/Tokyo")  # app.js sent the browser's zone

    nav_to(page, "Audit log")
    first = page.locator("#audit-results time").first
    expect(first).to_contain_text("GMT+9")
    expect(first).to_contain_text(re.compile(r"· (just now|\d+ (sec|min)\.? ago)"))
    expect(first).to_have_attribute("title", re.compile(r"Japan Standard Time$"))
    sign_in_row = page.locator("#audit-results tr").filter(has_text="Signed in").first
    expect(sign_in_row).to_be_visible()
    expect(sign_in_row.locator("[title='auth.login']")).to_have_text("Signed in")

    page.goto("/account")
    page.get_by_label("Show times in").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_role("status").filter(has_text="Europe/Berlin")).to_be_visible()
    assert _zone_of(owner) == "Europe/Berlin"

    # Another browser in another zone does not override a chosen zone.
    other = new_context(timezone_id="America/New_York").new_page()
    sign_in(other, owner)
    other.goto(f"/o/{org.slug}/members")
    expect(other.get_by_test_id("member-row").filter(has_text=owner.email).locator("time").last
           ).to_contain_text(re.compile(r"CES?T"))
    assert _zone_of(owner) == "Europe/Berlin"

    # "Last active" for the colleague who just signed in, in the owner's zone.
    colleague = new_context().new_page()
    sign_in(colleague, people["colleague"])
    other.reload()
    row = other.get_by_test_id("member-row").filter(has_text=people["colleague"].email)
    expect(row).not_to_contain_text("Never")
    expect(row.locator("time").last).to_contain_text("just now")


def _wait_for_zone(user, zone: str) -> None:
    import time

    for _ in range(50):
        if _zone_of(user) == zone:
            return
        time.sleep(0.1)
    assert _zone_of(user) == zone


def test_a_bad_zone_from_the_profile_changes_nothing(page):
    org, people = factories.org_with_members(owner="owner")
    factories.execute("UPDATE users SET time_zone = 'Europe/Paris' WHERE id = :u",
                      u=people["owner"].id)
    sign_in(page, people["owner"])
    page.goto("/account")
    response = page.request.post("/account/time-zone", form={
        "time_zone": "Mars/Olympus", "csrf_token": page.locator(
            "#time-zone input[name=csrf_token]").get_attribute("value")})
    assert response.status == 200 and "Choose a time zone from the list." in response.text()
    assert _zone_of(people["owner"]) == "Europe/Paris"


def test_roles_show_permission_names(page):
    org, people = factories.org_with_members(owner="owner")
    factories.CustomRoleFactory(org_id=org.id, key="reporter", name="Reporter",
                                permissions=["org.view", "usage.report"])
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org.id,
                      u=people["owner"].id)
    sign_in(page, people["owner"])
    page.goto(f"/o/{org.slug}/roles")
    row = page.get_by_role("row").filter(has_text="Reporter")
    expect(row).to_contain_text("Report usage")
    expect(row).not_to_contain_text("usage.report")
