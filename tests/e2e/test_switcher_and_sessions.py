"""The switcher's htmx dropdown and search, a stale tab after a switch, and the sessions page,
as a person uses them in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import expect_org_page, expect_sign_in_page, open_switcher, sign_in

pytestmark = pytest.mark.e2e


def user_with_orgs(count: int, role: str = "owner"):
    tag = factories.unique("sw")
    user = factories.UserFactory(name=f"Sam {tag}")
    orgs = []
    for i in range(count):
        org = factories.OrgFactory(name=f"Team {i:02d} {tag}", slug=f"team{i:02d}-{tag}")
        factories.MembershipFactory(org_id=org.id, user_id=user.id, role=role if i else "owner")
        orgs.append(org)
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=orgs[0].id, u=user.id)
    return user, orgs


def test_dropdown_search_and_switch_keep_the_page(page):
    user, orgs = user_with_orgs(10, role="admin")
    sign_in(page, user)
    page.goto(f"/o/{orgs[0].slug}/audit")
    open_switcher(page)
    switcher = page.locator("#org-switcher")
    search = switcher.get_by_label("Find an organization")  # more than 8 orgs: a search box
    expect(search).to_be_visible()
    expect(switcher.locator("[aria-current=true]")).to_contain_text(orgs[0].name)
    expect(switcher.get_by_text("Admin").first).to_be_visible()
    search.fill(orgs[7].slug)

    def button(org):
        return switcher.get_by_role("button", name=re.compile(re.escape(org.name)))

    expect(button(orgs[7])).to_be_visible()
    expect(button(orgs[8])).to_have_count(0)
    expect(search).to_be_focused()  # typing went on in the same box
    button(orgs[7]).click()
    page.wait_for_url(re.compile(rf"/o/{re.escape(orgs[7].slug)}/audit$"))
    expect_org_page(page, orgs[7].name)


def test_a_stale_tab_lands_on_the_switched_page(context):
    user, orgs = user_with_orgs(2)
    a, b = orgs
    old_tab = context.new_page()
    sign_in(old_tab, user)
    old_tab.goto(f"/o/{a.slug}/audit")
    new_tab = context.new_page()
    new_tab.goto(f"/o/{a.slug}/")
    open_switcher(new_tab)
    new_tab.locator("#org-switcher").get_by_role(
        "button", name=re.compile(re.escape(b.name))).click()
    new_tab.wait_for_url(re.compile(rf"/o/{re.escape(b.slug)}/$"))

    # The old tab still shows A's audit log; filtering it fires an htmx request for A.
    old_tab.get_by_label("Actor").fill("someone")
    old_tab.wait_for_url(re.compile(r"/switched\?"))
    expect(old_tab.get_by_role("heading", name="You switched organisation")).to_be_visible()
    expect(old_tab.get_by_text("Nothing was changed.")).to_be_visible()
    new_tab.reload()
    expect_org_page(new_tab, b.name)  # the other tab was not switched behind its back

    old_tab.get_by_role("button", name=f"Switch back to {a.name}").click()
    old_tab.wait_for_url(re.compile(rf"/o/{re.escape(a.slug)}/audit$"))
    expect_org_page(old_tab, a.name)


def test_revoking_a_session_from_the_sessions_page(new_context):
    user, (org,) = user_with_orgs(1)
    laptop = new_context().new_page()
    phone = new_context(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
                        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 "
                        "Safari/604.1").new_page()
    sign_in(laptop, user)
    sign_in(phone, user)
    laptop.get_by_label(re.compile("^Account menu")).click()
    laptop.get_by_role("link", name="Your sessions").click()
    expect(laptop.get_by_role("heading", name="Your sessions")).to_be_visible()
    rows = laptop.get_by_test_id("sessions").locator("tbody tr")
    expect(rows).to_have_count(2)
    phone_row = rows.filter(has_text="Mobile Safari")
    expect(phone_row).to_contain_text("iOS")
    expect(phone_row).to_contain_text(org.name)
    phone_row.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(laptop.get_by_text("That session is signed out.")).to_be_visible()
    expect(rows).to_have_count(1)
    phone.goto(f"/o/{org.slug}/")
    expect_sign_in_page(phone)
    laptop.goto(f"/o/{org.slug}/")
    expect_org_page(laptop, org.name)
