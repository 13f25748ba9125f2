"""Sign-in, CSRF and org URL behaviour through the real HTTP interface."""

from __future__ import annotations

from sqlalchemy import text

from tests import factories
from tests.helpers import csrf_token, login, post


def test_wrong_password_and_unknown_email_answer_alike(client):
    org, people = factories.org_with_members(owner="owner")
    wrong = login(client, people["owner"], "not the password")
    unknown = login(client, "nobody-at-all@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Incorrect email or password." in wrong.get_data(as_text=True)
    assert "Incorrect email or password." in unknown.get_data(as_text=True)


def test_repeated_failures_are_throttled(app, client):
    org, people = factories.org_with_members(owner="owner")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert login(client, people["owner"], "wrong").status_code == 401
    blocked = login(client, people["owner"])  # even the right password waits now
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.get_data(as_text=True)


def test_sign_in_lands_on_the_org_home(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    response = login(client, people["bob"])
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/o/{org.slug}/")
    page = client.get(f"/o/{org.slug}/").get_data(as_text=True)
    assert org.name in page and "Member" in page


def test_missing_csrf_token_is_refused_and_changes_nothing(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    response = client.post("/orgs/new", data={"name": "Sneaky", "slug": "sneaky-csrf"})
    assert response.status_code == 400
    count = factories.execute("SELECT count(*) FROM organizations WHERE slug = 'sneaky-csrf'")
    assert count.scalar() == 0


def test_unknown_slug_and_foreign_slug_are_both_404(client):
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    login(client, people_a["owner"])
    unknown = client.get("/o/no-such-org-anywhere/")
    foreign = client.get(f"/o/{org_b.slug}/")
    assert unknown.status_code == foreign.status_code == 404
    assert org_b.name not in foreign.get_data(as_text=True)


def test_hostile_slugs_are_a_clean_404(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    for slug in ["'; RESET ROLE;--", "%00", "a" * 500, "..%2F..", "' OR '1'='1"]:
        response = client.get(f"/o/{slug}/")
        assert response.status_code == 404, slug


def test_signed_out_visitors_are_sent_to_sign_in(client):
    org, _ = factories.org_with_members(owner="owner")
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_sign_out_revokes_the_session_row(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    cookie = client.get_cookie("tenantdesk_session").value
    assert post(client, "/logout").status_code == 302
    client.set_cookie("tenantdesk_session", cookie)  # replay the old token
    assert client.get(f"/o/{org.slug}/").status_code == 302
    revoked = factories.execute(
        "SELECT count(*) FROM user_sessions WHERE user_id = :u AND revoked_at IS NOT NULL",
        u=people["owner"].id,
    ).scalar()
    assert revoked >= 1


def test_create_org_makes_the_creator_owner(client):
    user = factories.UserFactory()
    login(client, user)
    assert client.get("/").headers["Location"].endswith("/orgs/new")
    token = csrf_token(client, "/orgs/new")
    response = client.post("/orgs/new", data={"csrf_token": token, "name": "Brand New Co"})
    assert response.status_code == 303
    slug = response.headers["Location"].split("/o/")[1].strip("/")
    assert slug.startswith("brand-new-co")
    role = factories.execute(
        "SELECT m.role FROM memberships m JOIN organizations o ON o.id = m.org_id"
        " WHERE o.slug = :s AND m.user_id = :u", s=slug, u=user.id,
    ).scalar()
    assert role == "owner"


def test_create_org_with_bad_input_shows_errors_and_creates_nothing(client):
    user = factories.UserFactory()
    login(client, user)
    token = csrf_token(client, "/orgs/new")
    before = factories.execute("SELECT count(*) FROM organizations").scalar()
    for data in ({"name": "", "slug": ""}, {"name": "x" * 500}, {"name": "Ok", "slug": "Bad Slug!"},
                 {"name": "Ok", "slug": "admin"}):
        response = client.post("/orgs/new", data={"csrf_token": token, **data})
        assert response.status_code == 400, data
        assert "field-error" in response.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM organizations").scalar() == before


def test_security_headers_are_set(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_login_form_is_labelled(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="email">' in html
    html = client.get("/login?password=1").get_data(as_text=True)
    assert '<label for="email">' in html and '<label for="password">' in html


def test_no_membership_in_rls_means_no_rows_for_removed_member(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    assert client.get(f"/o/{org.slug}/").status_code == 200
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    assert client.get(f"/o/{org.slug}/").status_code == 404
    assert text  # keep import used for clarity of intent in future edits
