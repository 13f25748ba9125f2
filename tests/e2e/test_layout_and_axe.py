"""Every main page (from the URL map, tests/pages.py) at a phone's 390 px and a laptop's
1,366 px: nothing wider than the viewport, and axe-core finds no accessibility violation.

The org has a 100-character name and filled tables (members, invitations, audit, API keys,
sessions), the widest content a real org shows. A screenshot of every page at both widths is
saved under ``<basetemp>/screenshots/<width>/`` (pytest's --basetemp) for a person to look at.
axe-core is the npm package, vendored and pinned in tests/e2e/vendor/axe-core/ (MPL-2.0).
"""

from __future__ import annotations

import pprint
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.e2e.support import sign_in
from tests.pages import enterprise_org_with_staff_owner, main_page_paths

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = (390, 1366)
LONG_NAME = ("Wolfeschlegelsteinhausenbergerdorff International Holdings and Logistics "
             "Trading Company Europe")[:100]

# Runs inside the page; evaluate() is not an inline script, so the page's CSP allows it.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} -- ` +
    v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""
WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def _fill_the_tables(org, owner) -> None:
    """Rows in every table a main page shows, with long values where people type them."""
    factories.add_members(org, 12, prefix="a-rather-long-email-address-for-layout")
    for n in range(3):
        factories.invitation(org, email=f"invited-person-number-{n}@a-long-company-domain.example")
    factories.api_key(org, ("members.read",), name="Deployment pipeline key for staging",
                      created_by=owner)
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target, details)"
        " SELECT :o, 'someone.with.a.long.address@example.com', 'license.change_plan',"
        " 'org:' || :slug, jsonb_build_object('from', 'free', 'to', 'enterprise', 'n', g)"
        " FROM generate_series(1, 5) g",
        o=org.id, slug=org.slug,
    )


@pytest.fixture
def long_named_org():
    org, owner = enterprise_org_with_staff_owner()
    factories.execute("UPDATE organizations SET name = :n WHERE id = :o", n=LONG_NAME, o=org.id)
    org.name = LONG_NAME
    _fill_the_tables(org, owner)
    return org, owner


def _shot_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"


def _walk(page, paths, widths, shots) -> dict:
    """Open every path at every width: pages wider than the screen, axe violations, pages
    not shown (5xx); a screenshot of each under ``shots/<width>/``."""
    axe_source = AXE.read_text(encoding="utf-8")
    too_wide, violations, not_shown = {}, {}, []
    for width in widths:
        page.set_viewport_size({"width": width, "height": 844 if width < 800 else 768})
        folder = shots / str(width)
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            response = page.goto(path)
            page.wait_for_load_state("load")
            if response is None or response.status >= 500:
                not_shown.append(f"{path}: {response and response.status}")
                continue
            if "text/html" not in (response.headers.get("content-type") or ""):
                continue  # JSON (SCIM discovery), metrics
            scroll_width, viewport = page.evaluate(WIDTH)
            if scroll_width > viewport:
                too_wide[f"{width}px {path}"] = scroll_width
            page.screenshot(path=str(folder / f"{_shot_name(path)}.png"), full_page=True)
            page.evaluate(axe_source)
            found = page.evaluate(RUN_AXE)
            if found:
                violations[f"{width}px {path}"] = found
    return {"not shown": not_shown, "wider than the screen": too_wide,
            "axe violations": violations}


def test_every_main_page_fits_a_phone_and_passes_axe(app, new_context, long_named_org,
                                                     tmp_path_factory):
    org, owner = long_named_org
    shots = tmp_path_factory.getbasetemp() / "screenshots"
    context = new_context(viewport={"width": WIDTHS[0], "height": 844})
    page = context.new_page()
    sign_in(page, owner)
    paths = [*main_page_paths(app, org.slug, org.id), "/api/v1/docs"]  # the API reference too
    assert len(paths) >= 20, paths
    problems = _walk(page, paths, WIDTHS, shots)
    print(f"screenshots of {len(paths)} pages at {WIDTHS} px: {shots}")
    assert not any(problems.values()), pprint.pformat(problems, width=100)


def test_support_mode_pages_fit_a_phone_and_pass_axe(app, new_context, long_named_org,
                                                     tmp_path_factory):
    """Staff who are not members enter the org in support mode (banner on every page) and
    open every one of its pages at 390 px, and the staff console's pages of that org."""
    org, _ = long_named_org
    staff = factories.UserFactory()
    factories.make_staff(staff)
    context = new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin"))
    page.goto(f"/admin/orgs/{org.id}")
    card = page.locator("section", has=page.get_by_role(
        "heading", name="Enter this organization (support mode)"))
    card.get_by_label("Reason (recorded in the organization's audit log)").fill(
        "Ticket #4711: checking the pages on a phone")
    card.get_by_role("button", name=re.compile("^Enter ")).click()
    page.wait_for_url(re.compile(rf"/o/{org.slug}/"))
    banner = page.get_by_test_id("support-banner")
    expect(banner).to_be_visible()

    paths = [p for p in main_page_paths(app, org.slug, org.id)
             if p.startswith((f"/o/{org.slug}/", f"/admin/orgs/{org.id}"))]
    assert len(paths) >= 15, paths
    problems = _walk(page, paths, (390,),
                     tmp_path_factory.getbasetemp() / "screenshots-support")
    page.goto(f"/o/{org.slug}/")
    expect(banner).to_be_visible()  # still in support mode after the walk
    assert not any(problems.values()), pprint.pformat(problems, width=100)


def test_a_long_org_name_is_cut_short_with_the_full_name_on_hover(new_context, long_named_org):
    org, owner = long_named_org
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(page, owner)
    name = page.get_by_test_id("active-org")
    assert name.get_attribute("title") == LONG_NAME
    box = name.bounding_box()
    assert box is not None and box["height"] < 40, box  # one line, not eleven
    # The account menu stays on screen.
    menu = page.get_by_label(re.compile("^Account menu")).bounding_box()
    assert menu is not None and menu["x"] + menu["width"] <= 390, menu


def test_the_navigation_folds_away_on_a_phone_and_opens_without_javascript(
        new_context, long_named_org):
    org, owner = long_named_org
    for javascript in (True, False):
        context = new_context(viewport={"width": 390, "height": 844},
                              java_script_enabled=javascript)
        page = context.new_page()
        sign_in(page, owner) if javascript else _sign_in_without_js(page, owner)
        nav = page.get_by_role("navigation", name="Organization")
        members = nav.get_by_role("link", name="Members")
        assert not members.is_visible()
        nav.get_by_text("Menu").click()
        assert members.is_visible()
        members.click()
        page.wait_for_url(f"**/o/{org.slug}/members")
    # On a laptop the links are always there.
    page = new_context(viewport={"width": 1366, "height": 768}).new_page()
    sign_in(page, owner)
    nav = page.get_by_role("navigation", name="Organization")
    assert nav.get_by_role("link", name="Members").is_visible()
    assert not nav.get_by_text("Menu").is_visible()


def _sign_in_without_js(page, owner) -> None:
    from tests.conftest import TEST_PASSWORD

    page.goto("/login")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/o/[^/]+/"))
