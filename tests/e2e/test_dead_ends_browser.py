"""Issue 21's dead ends, in a real browser: a sole owner transfers ownership (with step-up)
instead of meeting a 409, a batch invitation sends the good addresses and hands back the bad
one, and an invitation opened in the wrong account offers "Sign out and continue"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_team():
    tag = factories.unique("own")
    org = factories.OrgFactory(name=f"Handover {tag}", slug=f"handover-{tag}")
    factories.put_on_plan(org, "growth")  # seats for a batch
    owner = factories.UserFactory(name="Olivia Owner")
    bob = factories.UserFactory(name="Bob Builder")
    factories.MembershipFactory(org_id=org.id, user_id=owner.id, role="owner")
    factories.MembershipFactory(org_id=org.id, user_id=bob.id, role="member")
    for user in (owner, bob):
        factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org.id,
                          u=user.id)
    return org, owner, bob


def role_of(org, user) -> str | None:
    return factories.execute("SELECT role FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=org.id, u=user.id).scalar()


def test_a_sole_owner_transfers_ownership_and_leaves(page, small_team):
    org, owner, bob = small_team
    sign_in(page, owner)
    page.goto(f"/o/{org.slug}/leave")
    expect(page.get_by_test_id("sole-owner")).to_contain_text("You are the only owner")
    expect(page.get_by_role("link", name="Delete the organization")).to_be_visible()
    page.get_by_role("link", name="Transfer ownership").click()
    expect(page.get_by_role("heading", name=f"Transfer ownership of {org.name}")).to_be_visible()

    # ten minutes later: the transfer asks for the password again first
    factories.execute("UPDATE user_sessions SET reauth_at = now() - interval '11 minutes'"
                      " WHERE user_id = :u", u=owner.id)
    page.get_by_label("New owner").select_option(label=f"Bob Builder ({bob.email})")
    page.get_by_label("Leave the organization").check()
    page.get_by_role("button", name="Transfer ownership").click()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    assert role_of(org, bob) == "member"
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(re.compile(rf"/o/{re.escape(org.slug)}/ownership"))
    page.get_by_label("New owner").select_option(label=f"Bob Builder ({bob.email})")
    page.get_by_label("Leave the organization").check()
    page.get_by_role("button", name="Transfer ownership").click()
    page.wait_for_url(re.compile(r"/switcher"))
    expect(page.get_by_text(f"Bob Builder ({bob.email}) now owns {org.name}")).to_be_visible()
    assert role_of(org, bob) == "owner" and role_of(org, owner) is None


def test_a_batch_invitation_sends_the_good_addresses_and_returns_the_bad_one(
    page, small_team, smtp_server
):
    org, owner, _ = small_team
    sign_in(page, owner)
    page.goto(f"/o/{org.slug}/invitations")
    good = [f"{factories.unique('ok')}@example.com" for _ in range(2)]
    page.get_by_label("Email addresses").fill(f"{good[0]}, not-an-address\n{good[1]}")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_text(f"Invitation sent to {good[0]}, {good[1]}.")).to_be_visible()
    field = page.get_by_label("Email addresses")
    expect(field).to_have_value(re.compile(r"^\s*not-an-address\s*$"))
    expect(page.locator(".field-error")).to_contain_text("not valid email addresses")
    for address in good:
        assert smtp_server.wait_for(to=address)
    expect(page.get_by_test_id("pending-row")).to_have_count(2)


def test_sign_out_and_continue_from_an_invitation_for_another_address(
    new_context, small_team
):
    org, _, bob = small_team
    invited = factories.UserFactory(name="Ivy Invited")
    _, token = factories.invitation(org, invited.email, role="admin")
    page = new_context().new_page()
    sign_in(page, bob)
    page.goto(f"/invitations/{token}")
    expect(page.get_by_role("heading", name="This invitation is for someone else")).to_be_visible()
    page.get_by_role("button", name="Sign out and continue").click()
    page.wait_for_url(f"**/invitations/{token}")
    expect(page.get_by_role("heading", name=f"Join {org.name}")).to_be_visible()
    page.get_by_role("link", name="Sign in to accept").click()
    page.get_by_label("Email").fill(invited.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/invitations/{token}")
    page.get_by_role("button", name=f"Accept and join {org.name}").click()
    page.wait_for_url(re.compile(rf"/o/{re.escape(org.slug)}/$"))
    assert role_of(org, invited) == "admin"
