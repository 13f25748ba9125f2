"""The members pages in a real browser: live search, inline role edits (saved and refused),
and an invitation mailed over SMTP, followed and accepted by a new person."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def team():
    tag = factories.unique("team")
    org = factories.OrgFactory(name=f"Team {tag}", slug=f"team-{tag}")
    factories.put_on_plan(org, "growth")
    owner = factories.UserFactory(name="Olivia Owner")
    bob = factories.UserFactory(name="Bob Builder")
    factories.MembershipFactory(org_id=org.id, user_id=owner.id, role="owner")
    factories.MembershipFactory(org_id=org.id, user_id=bob.id, role="member")
    factories.add_members(org, 30, prefix=f"walrus{tag}")
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org.id, u=owner.id)
    return org, owner, bob


def csp_watch(page) -> list[str]:
    violations = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    return violations


def test_search_updates_the_list_in_place(page, team):
    org, owner, bob = team
    violations = csp_watch(page)
    sign_in(page, owner)
    page.goto(f"/o/{org.slug}/members")
    expect(page.get_by_test_id("members-summary")).to_contain_text("of 32 members")
    page.evaluate("window.__stillHere = true")  # gone if the page reloads
    page.get_by_label("Search by name or email").fill("bob builder")
    expect(page.get_by_test_id("member-row")).to_have_count(1)
    expect(page.get_by_test_id("member-row")).to_contain_text(bob.email)
    expect(page).to_have_url(re.compile(r"q=bob(\+|%20)builder"))  # shareable, back-button friendly
    assert page.evaluate("window.__stillHere") is True
    page.get_by_label("Search by name or email").fill("")
    page.get_by_label("Role", exact=True).select_option("owner")
    expect(page.get_by_test_id("member-row")).to_have_count(1)
    expect(page.get_by_test_id("member-row")).to_contain_text(owner.email)
    assert violations == []


def test_inline_role_change_saves_and_a_refusal_shows_in_the_row(page, team):
    org, owner, bob = team
    violations = csp_watch(page)
    sign_in(page, owner)
    page.goto(f"/o/{org.slug}/members?q=bob")
    page.get_by_label(f"Role of {bob.name}").select_option("admin")
    bob_row = page.locator(f"#member-{bob.id}")
    expect(bob_row.get_by_role("status")).to_have_text("Saved")
    assert factories.execute("SELECT role FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=org.id, u=bob.id).scalar() == "admin"

    page.goto(f"/o/{org.slug}/members?q=olivia")
    page.get_by_label(f"Role of {owner.name}").select_option("member")
    owner_row = page.locator(f"#member-{owner.id}")
    expect(owner_row.get_by_role("alert")).to_contain_text("at least one owner")
    assert factories.execute("SELECT role FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=org.id, u=owner.id).scalar() == "owner"
    assert violations == []


def test_an_invitation_travels_by_smtp_and_a_new_person_joins(new_context, team, smtp_server):
    org, owner, _ = team
    inviter = new_context().new_page()
    sign_in(inviter, owner)
    inviter.goto(f"/o/{org.slug}/invitations")
    address = f"{factories.unique('newbie')}@example.com"
    inviter.get_by_label("Email addresses").fill(address)
    inviter.get_by_label("Role").select_option("admin")
    inviter.get_by_label("Personal message (optional)").fill("See you on Monday!")
    inviter.get_by_role("button", name="Send invitations").click()
    expect(inviter.get_by_text(f"Invitation sent to {address}.")).to_be_visible()
    expect(inviter.get_by_test_id("pending-row")).to_contain_text(address)

    mail = smtp_server.wait_for(to=address)
    assert "See you on Monday!" in smtp_server.text_of(mail)
    link = smtp_server.first_link(mail, "/invitations/")

    invitee = new_context().new_page()
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name=f"Join {org.name}")).to_be_visible()
    invitee.get_by_label("Your name").fill("Nadia Newbie")
    invitee.get_by_label("Choose a password").fill("a long enough passphrase")
    invitee.get_by_label("Repeat the password").fill("a long enough passphrase")
    invitee.get_by_role("button", name="Create account and join").click()
    invitee.wait_for_url(re.compile(rf"/o/{re.escape(org.slug)}/$"))
    expect(invitee.get_by_test_id("my-role")).to_have_text("Admin")

    inviter.reload()
    expect(inviter.get_by_test_id("pending-row")).to_have_count(0)
