"""In a real browser, the Content-Security-Policy blocks nothing on any main page: no inline
script, inline style, style attribute or foreign resource slipped into a template, a vendored
asset or a chart (the server's SVG). Pages come from the URL map (tests/pages.py)."""

from __future__ import annotations

import pytest

from tests.e2e.support import open_switcher, sign_in
from tests.pages import enterprise_org_with_staff_owner, main_page_paths

pytestmark = pytest.mark.e2e

# Chromium reports every blocked resource, inline script, <style> or style="" on the console,
# and fires `securitypolicyviolation` on the document; we listen to both.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", e => window.__cspViolations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`));
"""


def test_the_csp_blocks_nothing_on_the_main_pages(app, context, live_server):
    org, owner = enterprise_org_with_staff_owner()
    context.add_init_script(LISTEN)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: console.append(f"{page.url}: script error {e}"))
    sign_in(page, owner)

    violations = {}
    paths = main_page_paths(app, org.slug, org.id)
    assert len(paths) >= 8
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("load")
        if path == f"/o/{org.slug}/":
            open_switcher(page)  # htmx fetches and swaps in the org list
            page.locator("#org-switcher").get_by_role("button").first.wait_for()
        if path == f"/o/{org.slug}/usage":
            page.get_by_role("link", name="90 days").click()  # htmx swaps the charts
            page.wait_for_url("**range=90**")
        found = page.evaluate("window.__cspViolations")
        if found:
            violations[path] = found
    assert violations == {}
    assert console == []


def test_the_signed_out_pages_break_no_rule(page):
    console = []
    page.on("console", lambda m: console.append(m.text)
            if "Content Security Policy" in m.text else None)
    for path in ("/login", "/no-such-page", "/o/nowhere/"):
        page.goto(path)
        page.wait_for_load_state("load")
    assert console == []
