"""An admin edits a member's metadata on the member's page in chromium: adds and changes
pairs, sees a refusal for a bad key with the rows kept as typed, and the page (form open)
fits a phone and passes axe."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import sign_in
from tests.e2e.test_layout_and_axe import AXE, RUN_AXE, WIDTH

pytestmark = pytest.mark.e2e


def test_an_admin_edits_member_metadata_in_the_page(new_context):
    org, people = factories.org_with_members(admin="admin", bob="member")
    bob = people["bob"]
    context = new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, people["admin"])
    page.goto(f"/o/{org.slug}/members/{bob.id}")
    page.get_by_text("Edit metadata").click()
    page.get_by_label("Key 1").fill("crm_id")
    page.get_by_label("Value 1").fill("4711")
    page.get_by_label("Key 2").fill("team")
    page.get_by_label("Value 2").fill("Platform & Ops")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_text("Metadata saved.")).to_be_visible()
    metadata = page.get_by_test_id("member-metadata")
    expect(metadata).to_contain_text("crm_id")
    expect(metadata).to_contain_text("Platform & Ops")

    # A bad key: refused with the reason, the rows as typed, nothing stored.
    page.get_by_text("Edit metadata").click()
    page.get_by_label("Key 3").fill("not a key!")
    page.get_by_label("Value 3").fill("x")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("alert")).to_contain_text("is not valid")
    expect(page.get_by_label("Key 3")).to_have_value("not a key!")
    rows = factories.execute("SELECT key, value FROM member_metadata WHERE org_id = :o"
                             " AND user_id = :u ORDER BY key", o=org.id, u=bob.id).all()
    assert [tuple(r) for r in rows] == [("crm_id", "4711"), ("team", "Platform & Ops")]

    # The page with the form open fits a phone and passes axe.
    scroll_width, viewport = page.evaluate(WIDTH)
    assert scroll_width <= viewport
    page.evaluate(AXE.read_text(encoding="utf-8"))
    assert page.evaluate(RUN_AXE) == []
