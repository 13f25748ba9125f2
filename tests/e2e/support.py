"""What a person does in the browser, as small reusable steps for every flow.

Selectors are the accessible names a person sees (labels, button text, aria-labels), so a
restyled page keeps its tests.
"""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import TEST_PASSWORD

SESSION_COOKIE = "tenantdesk_session"
ORG_HOME = re.compile(r"/o/[^/]+/$")


def sign_in(page: Page, user_or_email, password: str = TEST_PASSWORD) -> None:
    """Sign in through the form and wait for the landing page (an org home, 'create org', or
    the staff console for staff without an org)."""
    email = getattr(user_or_email, "email", user_or_email)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()  # email first, then the password
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/o/[^/]+/|/orgs/new|/admin/$"))


def sign_out(page: Page) -> None:
    page.get_by_label(re.compile("^Account menu")).click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def open_switcher(page: Page) -> None:
    page.get_by_label(re.compile(r"^Switch organization")).click()


def switch_org(page: Page, org_name: str, slug: str) -> None:
    """Switch from the top bar's org switcher and wait for that org's page."""
    open_switcher(page)
    switcher = page.locator("#org-switcher")
    switcher.get_by_role("button", name=re.compile(re.escape(org_name))).click()
    page.wait_for_url(re.compile(rf"/o/{re.escape(slug)}/"))


def expect_org_page(page: Page, org_name: str) -> None:
    expect(page.get_by_test_id("active-org")).to_have_text(org_name)


def session_cookie(context: BrowserContext) -> dict:
    cookies = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookies, "no session cookie in this browser context"
    return cookies[0]


def expect_sign_in_page(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_label("Email")).to_be_visible()


def nav_to(page: Page, label: str) -> None:
    """Follow a link of the org's side navigation ("Members", "Usage", "Audit log", ...).

    Returns once the new page has loaded: htmx wires up its triggers on DOMContentLoaded, and
    a select changed before that sends nothing (a flaky step under load otherwise)."""
    link = page.get_by_role("navigation", name="Organization").get_by_role("link", name=label)
    href = link.get_attribute("href")
    link.click()
    page.wait_for_url(f"**{href}")


def staff_set_feature(page: Page, org, feature: str, state: str) -> None:
    """As a signed-in staff member: override ``feature`` of ``org`` to "On" or "Off"."""
    page.goto(f"/admin/orgs/{org.id}/plan")
    form = page.locator("section", has=page.get_by_role("heading", name="Override a feature"))
    form.get_by_label("Feature").select_option(feature)
    form.get_by_label(state, exact=True).check()
    form.get_by_label("Reason").fill("End-to-end test of the feature gate")
    form.get_by_role("button", name="Set override").click()
    expect(page.get_by_role("status").filter(
        has_text=f"{feature} is now {state.lower()}")).to_be_visible()
