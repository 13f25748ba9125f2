"""The main flow with the keyboard alone: sign in, skip to content, switch org from the top
bar, sign out. Every control reached with Tab shows a visible focus ring."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.e2e

FOCUS_RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
         || style.boxShadow !== 'none';
}"""


def tab_to(page: Page, name: str | re.Pattern, key: str = "Tab", limit: int = 60) -> None:
    """Press Tab (or ``key``) until the focused element's accessible text matches; check that
    it shows a focus ring."""
    pattern = name if isinstance(name, re.Pattern) else re.compile(re.escape(name))
    for _ in range(limit):
        page.keyboard.press(key)
        label = page.evaluate(
            "() => { const el = document.activeElement; if (el === document.body) return '';"
            " return (el.getAttribute('aria-label') || el.innerText || el.value || '').trim(); }"
        )
        if pattern.search(label):
            assert page.evaluate(FOCUS_RING), f"no visible focus on {label!r}"
            return
    raise AssertionError(f"Tab never reached {pattern.pattern!r}")


def test_sign_in_switch_and_sign_out_with_the_keyboard_only(page):
    tag = factories.unique("kbd")
    user = factories.UserFactory()
    first = factories.OrgFactory(name=f"Keys {tag}", slug=f"keys-{tag}")
    second = factories.OrgFactory(name=f"Locks {tag}", slug=f"locks-{tag}")
    factories.MembershipFactory(org_id=first.id, user_id=user.id, role="owner")
    factories.MembershipFactory(org_id=second.id, user_id=user.id, role="member")
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=first.id, u=user.id)

    page.goto("/login")
    expect(page.get_by_label("Email")).to_be_focused()  # autofocus
    page.keyboard.type(user.email)
    page.keyboard.press("Enter")  # email first; the password step focuses the password
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/o/{first.slug}/")

    tab_to(page, "Skip to content")  # the first stop on every page
    expect(page.get_by_role("link", name="Skip to content")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    tab_to(page, re.compile(r"^Switch organization"), key="Shift+Tab")  # back to the top bar
    page.keyboard.press("Enter")
    tab_to(page, f"Locks {tag}")  # htmx has loaded the list into the open menu
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/o/{second.slug}/")
    expect(page.get_by_test_id("active-org")).to_have_text(f"Locks {tag}")

    tab_to(page, re.compile(r"^Account menu"))
    page.keyboard.press("Enter")
    tab_to(page, "Sign out")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
