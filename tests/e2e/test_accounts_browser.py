"""A person's account in a real browser, with the real SMTP server: forgot password, open
sign-up to an org and an invitation."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.support import ORG_HOME, sign_in

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "lighthouse pebble quartz 31"


def csp_watch(page) -> list[str]:
    violations = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    return violations


def test_forgot_password_mail_new_password_signed_in_old_sessions_dead(
        new_context, live_server, smtp_server):
    org, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    old = new_context().new_page()  # already signed in on another device
    sign_in(old, user)

    page = new_context().new_page()
    violations = csp_watch(page)
    page.goto("/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    mail = smtp_server.wait_for(to=user.email,
                                where=lambda m: m["Subject"] == "Reset your Tenantdesk password")
    page.goto(smtp_server.first_link(mail, "/reset-password/"))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(ORG_HOME)
    expect(page.get_by_test_id("active-org")).to_have_text(org.name)

    old.reload()
    expect(old).to_have_url(re.compile(r"/login"))  # the other device was signed out
    assert violations == []


def test_open_signup_verify_create_org_and_invite(new_context, live_server, smtp_server):
    live_server.app.config["SIGNUP"] = "open"
    try:
        email = f"sam-{secrets.token_hex(4)}@startup.example"
        page = new_context().new_page()
        violations = csp_watch(page)
        page.goto("/login")
        page.get_by_role("link", name="Create an account").click()
        page.get_by_label("Your name").fill("Sam Starter")
        page.get_by_label("Work email").fill(email)
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()

        mail = smtp_server.wait_for(to=email)
        page.goto(smtp_server.first_link(mail, "/signup/verify/"))
        page.get_by_role("button", name="Confirm and create my account").click()
        page.wait_for_url(re.compile(r"/orgs/new"))
        slug = f"startup-{secrets.token_hex(3)}"
        page.get_by_label("Organization name").fill("Startup")
        page.get_by_label("Address (optional)").fill(slug)
        page.get_by_role("button", name="Create organization").click()
        page.wait_for_url(re.compile(rf"/o/{slug}/"))

        page.goto(f"/o/{slug}/invitations")
        page.get_by_label(re.compile("Email addresses")).fill("first-hire@startup.example")
        page.get_by_role("button", name=re.compile("Send invitation")).click()
        invitation = smtp_server.wait_for(to="first-hire@startup.example")
        assert "/invitations/" in smtp_server.text_of(invitation)
        assert violations == []
    finally:
        live_server.app.config["SIGNUP"] = "invite-only"


def test_sign_in_page_says_access_is_by_invitation(page):
    page.goto("/login")
    expect(page.get_by_text("Access is by invitation")).to_be_visible()
    expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()

