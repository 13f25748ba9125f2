"""Sign in, see the org home, switch org from the top bar, sign out — as a person clicks it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.e2e.support import (
    expect_org_page,
    expect_sign_in_page,
    open_switcher,
    session_cookie,
    sign_in,
    sign_out,
    switch_org,
)

pytestmark = pytest.mark.e2e


@dataclass
class TwoOrgs:
    user: object
    a: object  # the user owns it, alone
    b: object  # the user is an admin there, with two colleagues


@pytest.fixture
def two_orgs() -> TwoOrgs:
    tag = factories.unique("e2e")
    user = factories.UserFactory(name=f"Dana {tag}")
    a = factories.OrgFactory(name=f"Anvil {tag}", slug=f"anvil-{tag}")
    b = factories.OrgFactory(name=f"Beacon {tag}", slug=f"beacon-{tag}")
    factories.MembershipFactory(org_id=a.id, user_id=user.id, role="owner")
    factories.MembershipFactory(org_id=b.id, user_id=user.id, role="admin")
    for role in ("owner", "member"):
        factories.MembershipFactory(org_id=b.id, role=role)
    # Land in A after sign-in, whatever the user did before.
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=a.id, u=user.id)
    return TwoOrgs(user=user, a=a, b=b)


def test_sign_in_switch_org_refuse_old_token_and_sign_out(page, new_context, two_orgs):
    a, b = two_orgs.a, two_orgs.b
    sign_in(page, two_orgs.user)
    expect(page).to_have_url(re.compile(rf"/o/{a.slug}/$"))
    expect_org_page(page, a.name)
    expect(page.get_by_test_id("org-title")).to_have_text(a.name)
    expect(page.get_by_test_id("my-role")).to_have_text("Owner")
    expect(page.get_by_test_id("member-count")).to_have_text("1")
    token_for_a = session_cookie(page.context)

    switch_org(page, b.name, b.slug)
    expect_org_page(page, b.name)
    expect(page.get_by_test_id("org-title")).to_have_text(b.name)
    expect(page.get_by_test_id("my-role")).to_have_text("Admin")
    expect(page.get_by_test_id("member-count")).to_have_text("3")
    assert session_cookie(page.context)["value"] != token_for_a["value"], "token not reissued"

    # The token from before the switch, replayed in a fresh browser, is refused.
    replay = new_context()
    replay.add_cookies([token_for_a])
    stale = replay.new_page()
    for slug in (a.slug, b.slug):
        stale.goto(f"/o/{slug}/")
        expect_sign_in_page(stale)
    assert a.name not in stale.content() and b.name not in stale.content()

    token_for_b = session_cookie(page.context)
    sign_out(page)
    page.goto(f"/o/{b.slug}/")
    expect_sign_in_page(page)

    # And the token from after the switch dies with the sign-out.
    replay_b = new_context()
    replay_b.add_cookies([token_for_b])
    stale_b = replay_b.new_page()
    stale_b.goto(f"/o/{b.slug}/")
    expect_sign_in_page(stale_b)


def test_keyboard_only_sign_in_and_switch(page, two_orgs):
    a, b = two_orgs.a, two_orgs.b
    page.goto("/login")
    # The email field has focus on arrival; no mouse from here on.
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(two_orgs.user.email)
    page.keyboard.press("Enter")  # email first: the password step comes with focus on it
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/o/{a.slug}/$"))
    expect_org_page(page, a.name)

    # Tab from the top of the page: skip link first, then the org switcher.
    page.locator("body").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    switcher = page.get_by_label(re.compile(r"^Switch organization"))
    for _ in range(5):
        if switcher.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(switcher).to_be_focused()
    page.keyboard.press("Enter")
    target = page.locator("#org-switcher").get_by_role("button", name=re.compile(b.name))
    expect(target).to_be_visible()
    for _ in range(10):
        if target.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(target).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/o/{b.slug}/"))
    expect_org_page(page, b.name)


def test_htmx_switcher_loads_its_list_in_place(page, two_orgs):
    a, b = two_orgs.a, two_orgs.b
    sign_in(page, two_orgs.user)
    fragment_requests = []
    page.on(
        "request",
        lambda r: fragment_requests.append(r) if "/switcher" in r.url else None,
    )
    with page.expect_response(lambda r: "/switcher" in r.url) as fragment:
        open_switcher(page)
    assert fragment.value.status == 200
    assert fragment_requests[0].headers.get("hx-request") == "true"
    expect(page).to_have_url(re.compile(rf"/o/{a.slug}/$"))  # no navigation: htmx swapped
    panel = page.locator("#org-switcher .menu-panel")
    expect(panel.get_by_role("button", name=re.compile(a.name))).to_have_attribute(
        "aria-current", "true"
    )
    expect(panel.get_by_role("link", name="Create an organization")).to_be_visible()
    panel.get_by_role("button", name=re.compile(b.name)).click()
    page.wait_for_url(re.compile(rf"/o/{b.slug}/"))
    expect_org_page(page, b.name)


def test_switcher_works_without_javascript(new_context, two_orgs):
    a, b = two_orgs.a, two_orgs.b
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, two_orgs.user)
    expect_org_page(page, a.name)
    open_switcher(page)  # a native <details>: opens without JavaScript
    page.get_by_role("link", name=re.compile("All organizations")).click()
    page.wait_for_url(re.compile(r"/switcher"))
    expect(page.get_by_role("heading", name="Your organizations")).to_be_visible()
    page.locator("main").get_by_role("button", name=re.compile(b.name)).click()
    page.wait_for_url(re.compile(rf"/o/{b.slug}/"))
    expect_org_page(page, b.name)
    expect(page.get_by_test_id("org-title")).to_have_text(b.name)
