"""Invitations end to end: a real SMTP server receives the mail, the test follows its link."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from tests import factories
from tests.conftest import TEST_PASSWORD
from tests.helpers import csrf_from, csrf_token, login, post

NEW_PASSWORD = "a perfectly fine passphrase"


def invite(client, org, emails, role="member", message=""):
    return post(client, f"/o/{org.slug}/invitations",
                {"emails": emails, "role": role, "message": message})


def invitation_rows(org, email=None):
    sql = "SELECT * FROM invitations WHERE org_id = :o"
    if email:
        sql += " AND lower(email) = lower(:e)"
    return factories.execute(sql + " ORDER BY created_at", o=org.id, e=email).mappings().all()


def membership(org, email):
    return factories.execute(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.org_id = :o AND lower(u.email) = lower(:e)", o=org.id, e=email,
    ).scalar()


def audit(org, action):
    return factories.execute(
        "SELECT details FROM audit_events WHERE org_id = :o AND action = :a ORDER BY at",
        o=org.id, a=action,
    ).scalars().all()


def path_of(link: str) -> str:
    return urlsplit(link).path


def snapshot(org):
    """Everything an invitation step could change, to show a refused step changed nothing."""
    return (
        factories.execute("SELECT count(*) FROM users").scalar(),
        factories.execute("SELECT user_id, role FROM memberships WHERE org_id = :o ORDER BY 1",
                          o=org.id).all(),
        factories.execute("SELECT id, status, token_hash, expires_at FROM invitations"
                          " WHERE org_id = :o ORDER BY 1", o=org.id).all(),
        factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o", o=org.id)
        .scalar(),
    )


# ------------------------------------------------------------------------ the whole journey


def test_a_new_person_follows_the_mailed_link_and_joins(app, client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    response = invite(client, org, "newcomer@example.com", role="admin",
                      message="Welcome aboard!")
    assert response.status_code == 303

    message = mail_server.last(to="newcomer@example.com")
    assert org.name in message["Subject"]
    body = mail_server.text(message)
    assert "Welcome aboard!" in body and "Admin" in body
    (link,) = mail_server.links(message)

    (row,) = invitation_rows(org, "newcomer@example.com")
    token = path_of(link).rsplit("/", 1)[1]
    assert row["token_hash"] == hashlib.sha256(token.encode()).digest()  # only the hash stored
    assert token.encode() not in bytes(row["token_hash"])
    assert abs(row["expires_at"] - row["created_at"] - timedelta(days=7)) < timedelta(minutes=1)

    invitee = app.test_client()
    page = invitee.get(path_of(link))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert org.name in html and "newcomer@example.com" in html
    joined = invitee.post(path_of(link), data={
        "csrf_token": csrf_from(html), "name": "Nia Newcomer",
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
    })
    assert joined.status_code == 303 and joined.headers["Location"].endswith(f"/o/{org.slug}/")
    home = invitee.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert org.name in home and "Admin" in home  # signed in, inside the org
    assert membership(org, "newcomer@example.com") == "admin"
    assert invitation_rows(org, "newcomer@example.com")[0]["status"] == "accepted"
    (details,) = audit(org, "invitation.accept")
    assert details["before"]["status"] == "pending" and details["after"]["role"] == "admin"
    assert audit(org, "invitation.create")[0]["after"]["email"] == "newcomer@example.com"

    # single use: the same link now says so
    again = app.test_client().get(path_of(link))
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)


def test_an_existing_user_signs_in_then_accepts(app, client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    existing = factories.UserFactory(email="Returning.User@Example.com")
    login(client, people["owner"])
    invite(client, org, "returning.user@example.com")
    link = path_of(mail_server.links(mail_server.last(to="returning.user@example.com"))[0])

    visitor = app.test_client()
    page = visitor.get(link).get_data(as_text=True)
    assert "Sign in to accept" in page
    csrf = csrf_from(visitor.get("/login").get_data(as_text=True))
    assert visitor.post(link, data={"csrf_token": csrf, "name": "x",
                                    "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
                        ).status_code == 409  # no second account for an existing address
    signed_in = login(visitor, existing)
    assert signed_in.status_code == 302
    confirm = visitor.get(link)
    assert "Accept and join" in confirm.get_data(as_text=True)
    done = visitor.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert done.status_code == 303
    assert membership(org, existing.email) == "member"
    assert visitor.get(f"/o/{org.slug}/").status_code == 200


def test_bulk_invite_sends_one_mail_each_and_reports_members(client, mail_server):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "growth")
    login(client, people["owner"])
    response = invite(client, org, f"a1@example.com, a2@example.com\na3@example.com;"
                                   f" A1@example.com\n{people['bob'].email}")
    assert response.status_code == 303
    assert sorted(m["To"] for m in mail_server.messages) == [
        "a1@example.com", "a2@example.com", "a3@example.com"]
    page = client.get(f"/o/{org.slug}/invitations").get_data(as_text=True)
    assert "Already a member" in page and people["bob"].email in page
    assert page.count('data-testid="pending-row"') == 3


def test_reinviting_a_pending_address_refreshes_it(client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    invite(client, org, "twice@example.com", role="guest")
    (first,) = invitation_rows(org, "twice@example.com")
    invite(client, org, "twice@example.com", role="member")
    (second,) = invitation_rows(org, "twice@example.com")  # still one row
    assert second["id"] == first["id"] and second["role"] == "member"
    assert second["token_hash"] != first["token_hash"] and second["send_count"] == 2
    old_link, new_link = (path_of(mail_server.links(m)[0]) for m in mail_server.to(
        "twice@example.com"))
    assert old_link != new_link
    (refresh,) = audit(org, "invitation.refresh")
    assert refresh["before"]["role"] == "guest" and refresh["after"]["role"] == "member"


def test_resend_issues_a_new_link_and_the_old_one_dies(app, client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    row, old_token = factories.invitation(org, "again@example.com")
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/invitations/{row.id}/resend").status_code == 303
    new_link = path_of(mail_server.links(mail_server.last(to="again@example.com"))[0])
    assert app.test_client().get(f"/invitations/{old_token}").status_code == 404
    assert app.test_client().get(new_link).status_code == 200
    (details,) = audit(org, "invitation.resend")
    assert details["after"]["send_count"] == details["before"]["send_count"] + 1


def test_revoke_kills_the_link(app, client):
    org, people = factories.org_with_members(owner="owner")
    row, token = factories.invitation(org, "gone@example.com")
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/invitations/{row.id}/revoke").status_code == 303
    page = app.test_client().get(f"/invitations/{token}")
    assert page.status_code == 410 and "withdrawn" in page.get_data(as_text=True)
    (details,) = audit(org, "invitation.revoke")
    assert details["before"]["status"] == "pending" and details["after"]["status"] == "revoked"


def test_invitation_ttl_is_configurable(app, client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    app.config["INVITATION_TTL_DAYS"] = 2
    try:
        invite(client, org, "short@example.com")
    finally:
        app.config["INVITATION_TTL_DAYS"] = 7
    (row,) = invitation_rows(org, "short@example.com")
    assert abs(row["expires_at"] - row["created_at"] - timedelta(days=2)) < timedelta(minutes=1)


def test_without_smtp_mail_lands_in_the_outbox(app, client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    mailer = app.extensions["tenantdesk.mail"]
    before = set(mailer.outbox_names(limit=10_000))
    invite(client, org, "outboxed@example.com")
    new = set(mailer.outbox_names(limit=10_000)) - before
    assert [mailer.read_outbox(n)["To"] for n in new] == ["outboxed@example.com"]


def test_a_refused_submission_sends_no_mail(client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    response = invite(client, org, "not-an-address, also@bad@example.com")
    assert response.status_code == 400
    assert mail_server.messages == [] and invitation_rows(org) == []


def test_a_batch_sends_the_valid_addresses_and_reports_the_bad_ones(client, mail_server):
    """Issue 21: one malformed address no longer cancels the whole batch."""
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    response = invite(client, org, "fine@example.com, not-an-address\nalso-fine@example.com")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Invitation sent to fine@example.com, also-fine@example.com" in html
    error = html.split('class="field-error"', 1)[1].split("</p>", 1)[0]
    assert "not-an-address" in error and "fine@example.com" not in error
    # the form comes back holding only the address to correct
    assert re.search(r'name="emails"[^>]*>\s*not-an-address</textarea>', html)
    assert sorted(r["email"] for r in invitation_rows(org)) == [
        "also-fine@example.com", "fine@example.com"]
    for address in ("fine@example.com", "also-fine@example.com"):
        assert mail_server.last(to=address) is not None
    assert len(mail_server.messages) == 2


# ------------------------------------------------------------------------ bad tokens


@pytest.mark.parametrize("state", ["expired", "revoked", "used"])
def test_dead_tokens_get_a_clear_page_and_change_nothing(app, state):
    org, _ = factories.org_with_members(owner="owner")
    fields = {
        "expired": {"expires_at": datetime.now(UTC) - timedelta(minutes=1)},
        "revoked": {"status": "revoked"},
        "used": {"status": "accepted"},
    }[state]
    _, token = factories.invitation(org, f"{state}@example.com", **fields)
    client = app.test_client()
    before = snapshot(org)
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert f'data-outcome="{state}"' in html
    # A hand-made POST (a new account) is refused the same way.
    token_page = client.get("/login").get_data(as_text=True)
    response = client.post(f"/invitations/{token}", data={
        "csrf_token": csrf_from(token_page), "name": "Eve", "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD})
    assert response.status_code == 410
    assert snapshot(org) == before


@pytest.mark.parametrize("tamper", ["flip", "truncate", "extend", "garbage", "long"])
def test_tampered_tokens_are_not_found_and_change_nothing(app, tamper):
    org, _ = factories.org_with_members(owner="owner")
    _, token = factories.invitation(org, "tamper@example.com")
    bad = {
        "flip": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "truncate": token[:-3],
        "extend": token + "x",
        "garbage": "'; DROP TABLE invitations;--",
        "long": "a" * 5000,
    }[tamper]
    client = app.test_client()
    before = snapshot(org)
    page = client.get(f"/invitations/{bad}")
    assert page.status_code == 404
    assert 'data-outcome="not_found"' in page.get_data(as_text=True)
    assert "tamper@example.com" not in page.get_data(as_text=True)
    csrf = csrf_from(client.get("/login").get_data(as_text=True))
    assert client.post(f"/invitations/{bad}", data={
        "csrf_token": csrf, "name": "Eve", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
    }).status_code == 404
    assert snapshot(org) == before


def test_a_signed_in_user_with_another_email_cannot_accept(app):
    org, _ = factories.org_with_members(owner="owner")
    _, token = factories.invitation(org, "intended@example.com")
    mallory = factories.UserFactory()
    client = app.test_client()
    login(client, mallory)
    before = snapshot(org)
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert 'data-outcome="wrong_email"' in html and mallory.email in html
    csrf = csrf_from(client.get("/switcher").get_data(as_text=True))
    response = client.post(f"/invitations/{token}", data={"csrf_token": csrf})
    assert response.status_code == 403
    assert snapshot(org) == before
    assert membership(org, mallory.email) is None


def test_sign_out_and_continue_comes_back_to_the_invitation_signed_out(app):
    org, _ = factories.org_with_members(owner="owner")
    _, token = factories.invitation(org, "continue@example.com")
    other = factories.UserFactory()
    client = app.test_client()
    login(client, other)
    html = client.get(f"/invitations/{token}").get_data(as_text=True)
    form = html.split('data-testid="sign-out-and-continue"', 1)[1].split("</form>", 1)[0]
    assert f'name="next" value="/invitations/{token}"' in form
    response = client.post("/logout", data={"csrf_token": csrf_from(form),
                                            "next": f"/invitations/{token}"})
    assert response.headers["Location"] == f"/invitations/{token}"
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200 and "continue@example.com" in page.get_data(as_text=True)
    assert client.get("/switcher").status_code in (302, 401)  # really signed out
    # another site as "next" is not followed
    login(client, other)
    away = client.post("/logout", data={"csrf_token": csrf_token(client, "/switcher"),
                                        "next": "//evil.example/x"})
    assert away.headers["Location"] == "/login"


def test_the_database_refuses_a_wrong_email_even_if_the_page_were_skipped(app):
    """app_accept_invitation checks the address itself, whatever the route does."""
    from dashboard import tenancy
    from dashboard.members import invitations

    org, _ = factories.org_with_members(owner="owner")
    _, token = factories.invitation(org, "intended@example.com")
    mallory = factories.UserFactory()
    factory = app.extensions["tenantdesk.db"].sessionmaker
    with tenancy.scoped_session(
        factory, tenancy.TenantContext(user_id=mallory.id, org_id=org.id)
    ) as session:
        view = invitations.lookup(session, token)
        with pytest.raises(invitations.AcceptRefused) as refused:
            invitations.accept(session, token=token, view=view, user_email=mallory.email,
                               actor=factories_actor(mallory))
    assert refused.value.outcome == "wrong_email"
    assert membership(org, mallory.email) is None


def factories_actor(user):
    from dashboard.audit.service import Actor

    return Actor(label=user.email, user_id=user.id)


def test_the_invited_user_already_a_member_is_told_so(app):
    org, people = factories.org_with_members(owner="owner", bob="member")
    _, token = factories.invitation(org, people["bob"].email)
    client = app.test_client()
    login(client, people["bob"])
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 409 and "already a member" in page.get_data(as_text=True)
    csrf = csrf_from(client.get("/switcher").get_data(as_text=True))
    response = client.post(f"/invitations/{token}", data={"csrf_token": csrf})
    assert response.status_code == 409
    assert "already a member" in response.get_data(as_text=True)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("emails", "message"),
    [
        ("not-an-email", "Not valid email addresses"),
        ("a@b@c.com, not@valid@example.com", "Not valid email addresses"),
        ("x" * 300 + "@example.com", "Not valid email addresses"),
        ("", "Enter at least one email address"),
        (", ,\n ;", "Enter at least one email address"),
        (",".join(f"p{i}@example.com" for i in range(1000)), "at most 50"),
        (",".join(f"p{i}@example.com" for i in range(51)), "at most 50"),
    ],
)
def test_bad_addresses_are_form_errors(client, emails, message):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    response = invite(client, org, emails)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and "field-error" in html
    assert invitation_rows(org) == []


@pytest.mark.parametrize("data", [
    {"role": "emperor"}, {"role": ""}, {"role": "x" * 500},
    {"message": "m" * 1001},
])
def test_unknown_roles_and_long_messages_are_form_errors(client, data):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/invitations",
                    {"emails": "ok@example.com", "role": "member", **data})
    assert response.status_code == 400 and "field-error" in response.get_data(as_text=True)
    assert invitation_rows(org) == []


@pytest.mark.parametrize("data", [
    {"name": "n" * 101}, {"name": ""}, {"password": "short", "confirm": "short"},
    {"confirm": "something else entirely"}, {"password": "p" * 300, "confirm": "p" * 300},
])
def test_bad_new_account_input_is_a_form_error(app, data):
    org, _ = factories.org_with_members(owner="owner")
    _, token = factories.invitation(org, "careful@example.com")
    client = app.test_client()
    page = client.get(f"/invitations/{token}").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "name": "Careful", "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD, **data}
    before = snapshot(org)
    response = client.post(f"/invitations/{token}", data=form)
    assert response.status_code == 400 and "field-error" in response.get_data(as_text=True)
    assert snapshot(org) == before


def test_seat_limit_from_the_license_is_enforced_with_a_clear_message(client, mail_server):
    org, people = factories.org_with_members(owner="owner", bob="member", cat="member")
    factories.put_on_plan(org, "growth", seats=5)  # the license's own seat count wins
    login(client, people["owner"])
    assert "3 of 5 seats used" in client.get(f"/o/{org.slug}/invitations").get_data(as_text=True)
    assert invite(client, org, "s1@example.com").status_code == 303  # 4 of 5 seats
    response = invite(client, org, "s2@example.com, s3@example.com")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "allows 5 seats" in html and "1 more can be invited" in html
    assert len(invitation_rows(org)) == 1 and len(mail_server.messages) == 1
    # refreshing a pending invitation takes no extra seat
    assert invite(client, org, "s1@example.com").status_code == 303


def test_unlimited_plans_have_no_seat_limit(client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")
    login(client, people["owner"])
    many = ",".join(f"e{i}@example.com" for i in range(50))
    assert invite(client, org, many).status_code == 303
    assert len(invitation_rows(org)) == 50


def test_login_password_still_works_for_people_who_joined(app, client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    invite(client, org, "later@example.com")
    link = path_of(mail_server.links(mail_server.last(to="later@example.com"))[0])
    newcomer = app.test_client()
    csrf = csrf_from(newcomer.get(link).get_data(as_text=True))
    newcomer.post(link, data={"csrf_token": csrf, "name": "Later", "password": NEW_PASSWORD,
                              "confirm": NEW_PASSWORD})
    again = app.test_client()
    assert login(again, "later@example.com", NEW_PASSWORD).status_code == 302
    assert login(app.test_client(), "later@example.com", TEST_PASSWORD).status_code == 401


def test_an_org_that_enforces_sso_keeps_the_join_and_sends_the_invitee_to_sso(app):
    org, _ = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")
    connection = factories.SsoConnectionFactory(org_id=org.id, require_sso=True)
    _, token = factories.invitation(org, "sso.person@example.com", role="member")
    client = app.test_client()
    csrf = csrf_from(client.get(f"/invitations/{token}").get_data(as_text=True))
    response = client.post(f"/invitations/{token}", data={
        "csrf_token": csrf, "name": "Sso Person", "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="joined-sso"' in html and f"/sso/start/{connection.id}" in html
    assert membership(org, "sso.person@example.com") == "member"
    # no password session was opened into the SSO-only org
    assert client.get(f"/o/{org.slug}/").status_code == 302
