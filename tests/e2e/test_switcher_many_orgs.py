"""The switcher for a person in 200 orgs (a bounded panel that scrolls, search, "Recent",
long names cut with the full name on hover), and the notice after an implicit switch: a link
or the Back button into another org's page says which org you left and which you are in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import expect_org_page, open_switcher, sign_in, switch_org

pytestmark = pytest.mark.e2e

LONG = "Quite Remarkably Long Organization Name That Keeps Going Well Past Any Sensible Width"


def person_in_many_orgs(count: int):
    """A person in ``count`` orgs (one SQL statement for the orgs, one for the memberships);
    the first org has a very long name."""
    tag = factories.unique("many")
    user = factories.UserFactory(name=f"Morgan {tag}")
    ids = factories.execute(
        "INSERT INTO organizations (slug, name)"
        " SELECT 'm' || lpad(g::text, 3, '0') || '-' || :tag,"
        "        CASE WHEN g = 1 THEN :long"
        "             ELSE 'Many ' || lpad(g::text, 3, '0') || ' ' || :tag END"
        "   FROM generate_series(1, :n) g RETURNING id, slug, name",
        tag=tag, n=count, long=f"{LONG} {tag}",
    ).all()
    factories.execute(
        "INSERT INTO memberships (org_id, user_id, role)"
        " SELECT unnest(CAST(:ids AS uuid[])), :u, 'admin'",
        ids=[row.id for row in ids], u=user.id,
    )
    orgs = sorted(ids, key=lambda row: row.slug)
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=orgs[1].id, u=user.id)
    return user, orgs


def test_two_hundred_orgs_scroll_inside_a_bounded_panel_with_search_and_recent(new_context):
    user, orgs = person_in_many_orgs(200)
    page = new_context(viewport={"width": 1366, "height": 768}).new_page()
    sign_in(page, user)
    expect_org_page(page, orgs[1].name)
    switch_org(page, orgs[150].name, orgs[150].slug)
    switch_org(page, orgs[0].name, orgs[0].slug)

    open_switcher(page)
    switcher = page.locator("#org-switcher")
    results = switcher.get_by_test_id("switcher-results")
    expect(switcher.get_by_label("Find an organization")).to_be_visible()
    # The panel stays within the screen; the list scrolls inside it.
    panel = switcher.locator(".menu-panel").bounding_box()
    assert panel is not None and panel["y"] + panel["height"] <= 768, panel
    scroll = results.evaluate("el => [el.scrollHeight, el.clientHeight]")
    assert scroll[0] > scroll[1] * 5, scroll

    # Recent: the last orgs opened, newest first, each listed once.
    recent = switcher.get_by_role("list", name="Recent").get_by_role("button")
    expect(recent).to_have_count(3)
    expect(recent.nth(0)).to_have_attribute("data-org", orgs[0].slug)
    expect(recent.nth(1)).to_have_attribute("data-org", orgs[150].slug)
    expect(recent.nth(2)).to_have_attribute("data-org", orgs[1].slug)
    expect(switcher.locator(f'[data-org="{orgs[150].slug}"]')).to_have_count(1)
    expect(switcher.get_by_role("list", name="All organizations").get_by_role("button")
           ).to_have_count(197)

    # The long name is cut on one line, and complete on hover.
    long_button = recent.nth(0)
    expect(long_button).to_have_attribute("title", orgs[0].name)
    name_box = long_button.locator(".cut-fill")
    assert name_box.evaluate("el => el.scrollWidth > el.clientWidth")
    top_name = page.get_by_test_id("active-org")
    expect(top_name).to_have_attribute("title", orgs[0].name)
    assert top_name.evaluate("el => el.scrollWidth > el.clientWidth")

    # Search narrows the list to the one org, and switching to it works.
    switcher.get_by_label("Find an organization").fill(orgs[199].slug)
    expect(results.get_by_role("button")).to_have_count(1)
    results.get_by_role("button").click()
    page.wait_for_url(re.compile(rf"/o/{re.escape(orgs[199].slug)}/"))
    expect_org_page(page, orgs[199].name)


def test_back_after_a_switch_says_which_org_you_are_in(page):
    user, orgs = person_in_many_orgs(3)
    first, second = orgs[1], orgs[2]
    sign_in(page, user)
    page.goto(f"/o/{first.slug}/members")
    switch_org(page, second.name, second.slug)
    expect_org_page(page, second.name)
    expect(page.get_by_role("status").filter(has_text="switched")).to_have_count(0)

    page.go_back()  # to /o/<first>/members: the session follows, and says so
    page.wait_for_url(re.compile(rf"/o/{re.escape(first.slug)}/members$"))
    expect_org_page(page, first.name)
    notice = page.get_by_role("status").filter(has_text="You switched from")
    expect(notice).to_contain_text(f"from {second.name} to {first.name}")

    # A plain link into the other org does the same.
    page.goto(f"/o/{second.slug}/audit")
    expect_org_page(page, second.name)
    expect(page.get_by_role("status").filter(has_text="You switched from")).to_contain_text(
        f"from {first.name} to {second.name}")
    page.reload()  # said once, not on every page
    expect(page.get_by_role("status").filter(has_text="You switched from")).to_have_count(0)


def test_the_switcher_fits_a_phone(new_context):
    user, orgs = person_in_many_orgs(40)
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(page, user)
    open_switcher(page)
    switcher = page.locator("#org-switcher")
    expect(switcher.get_by_label("Find an organization")).to_be_visible()
    panel = switcher.locator(".menu-panel").bounding_box()
    assert panel is not None and panel["x"] >= 0 and panel["x"] + panel["width"] <= 390, panel
    assert panel["y"] + panel["height"] <= 844, panel
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
