"""Sign-up policy: invite-only by default; open sign-up with a verified address; domain joining."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest

from dashboard.accounts.background import background
from tests import factories
from tests.helpers import csrf_token, login, post

PASSWORD = "marble kettle orchard 58"
CONFIRM = "Confirm your email for Tenantdesk"


@pytest.fixture
def open_signup(app):
    app.config["SIGNUP"] = "open"
    yield
    app.config["SIGNUP"] = "invite-only"


def sign_up(client, email, name="Nora Newcomer", password=PASSWORD):
    token = csrf_token(client, "/signup")
    return client.post("/signup", data={"csrf_token": token, "email": email, "name": name,
                                        "password": password})


def confirm_link(smtp_server, email) -> str:
    message = smtp_server.wait_for(to=email, where=lambda m: m["Subject"] == CONFIRM)
    return urlsplit(smtp_server.first_link(message, "/signup/verify/")).path


def confirm(client, path):
    token = csrf_token(client, "/forgot-password")
    return client.post(path, data={"csrf_token": token})


def user_count(email):
    return factories.execute("SELECT count(*) FROM users WHERE lower(email) = lower(:e)",
                             e=email).scalar()


def test_invite_only_is_the_default(client):
    assert client.get("/signup").status_code == 404
    page = client.get("/login").get_data(as_text=True)
    assert "Access is by invitation" in page and "Forgot password?" in page
    assert "/signup" not in page


def test_open_signup_verify_create_org_and_invite(app, client, open_signup, mail_server,
                                                  smtp_server):
    email = f"nora-{secrets.token_hex(4)}@newco.example"
    assert "Create an account" in client.get("/login").get_data(as_text=True)
    asked = sign_up(client, email)
    assert asked.status_code == 200 and "Confirm your email" in asked.get_data(as_text=True)
    path = confirm_link(smtp_server, email)
    assert user_count(email) == 0  # nothing exists before the address is proven
    assert client.get(path).status_code == 200  # a GET (a mail scanner) spends nothing
    done = confirm(client, path)
    assert done.status_code == 303 and done.headers["Location"].endswith("/welcome")
    assert client.get("/welcome").headers["Location"].endswith("/orgs/new")
    assert user_count(email) == 1
    created = post(client, "/orgs/new", {"name": "Newco", "slug": f"newco-{secrets.token_hex(3)}"})
    assert created.status_code == 303
    slug = created.headers["Location"].split("/o/")[1].strip("/")
    role = factories.execute(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        " JOIN organizations o ON o.id = m.org_id WHERE o.slug = :s AND u.email = :e",
        s=slug, e=email).scalar()
    assert role == "owner"
    invited = post(client, f"/o/{slug}/invitations", {"emails": "colleague@newco.example",
                                                      "role": "member"})
    assert invited.status_code in (200, 303)
    smtp_server.wait_for(to="colleague@newco.example")
    # The link is single-use.
    assert confirm(app.test_client(), path).status_code == 410


def test_signup_for_a_taken_address_mails_a_hint_and_answers_alike(
        app, client, open_signup, mail_server, smtp_server):
    _, people = factories.org_with_members(owner="owner")
    email = people["owner"].email
    fresh = f"fresh-{secrets.token_hex(4)}@example.com"
    taken_answer = sign_up(client, email)
    fresh_answer = sign_up(client, fresh)
    assert taken_answer.status_code == fresh_answer.status_code == 200
    assert (taken_answer.get_data(as_text=True).replace(email, "X")
            == fresh_answer.get_data(as_text=True).replace(fresh, "X"))
    hint = smtp_server.wait_for(to=email)
    assert hint["Subject"] == "You already have a Tenantdesk account"
    background(app).drain()
    assert user_count(email) == 1


def test_bad_tampered_and_expired_signup_links(client, open_signup, mail_server, smtp_server):
    email = f"late-{secrets.token_hex(4)}@example.com"
    sign_up(client, email)
    path = confirm_link(smtp_server, email)
    assert confirm(client, path[:-2] + "zz").status_code == 404
    factories.execute("UPDATE signup_requests SET expires_at = now() - interval '1 second'"
                      " WHERE email = :e", e=email)
    assert confirm(client, path).status_code == 410
    assert user_count(email) == 0


def test_weak_passwords_and_bad_input_are_refused(client, open_signup):
    for data, message in [
        ({"email": "a@example.com", "name": "A", "password": "password1234"}, "too easy"),
        ({"email": "bad", "name": "A", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "name": "", "password": PASSWORD}, "required"),
    ]:
        response = sign_up(client, **data)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True).lower() or message == "required"


def test_domain_joining_is_offered_only_where_turned_on(app, client, open_signup, mail_server,
                                                        smtp_server):
    domain = f"{secrets.token_hex(4)}.joiners.example"
    open_org, _ = factories.org_with_members(owner="owner")
    closed_org, _ = factories.org_with_members(owner="owner")
    factories.SsoDomainFactory(org_id=open_org.id, domain=domain)
    factories.execute("UPDATE organizations SET settings = settings ||"
                      " '{\"domain_join\": true, \"domain_join_role\": \"guest\"}' WHERE id = :o",
                      o=open_org.id)
    other_domain = f"{secrets.token_hex(4)}.closed.example"
    factories.SsoDomainFactory(org_id=closed_org.id, domain=other_domain)
    email = f"jo@{domain}"
    sign_up(client, email)
    confirm(client, confirm_link(smtp_server, email))
    welcome = client.get("/welcome")
    page = welcome.get_data(as_text=True)
    assert welcome.status_code == 200 and f"Join {open_org.name}" in page
    assert closed_org.name not in page
    assert post(client, f"/welcome/join/{closed_org.id}").status_code == 404
    joined = post(client, f"/welcome/join/{open_org.id}")
    assert joined.status_code == 303 and joined.headers["Location"].endswith(
        f"/o/{open_org.slug}/")
    assert factories.execute(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.org_id = :o AND u.email = :e", o=open_org.id, e=email).scalar() == "guest"
    assert factories.execute(
        "SELECT count(*) FROM audit_events WHERE org_id = :o AND action ="
        " 'member.join_by_domain'", o=open_org.id).scalar() == 1
    assert client.get(f"/o/{open_org.slug}/").status_code == 200


def test_domain_joining_is_off_by_default(app, client):
    domain = f"{secrets.token_hex(4)}.quiet.example"
    org, _ = factories.org_with_members(owner="owner")
    factories.SsoDomainFactory(org_id=org.id, domain=domain)
    person = factories.UserFactory(email=f"pat@{domain}")
    login(client, person)
    assert client.get("/welcome").headers["Location"].endswith("/orgs/new")
    assert post(client, f"/welcome/join/{org.id}").status_code == 404
