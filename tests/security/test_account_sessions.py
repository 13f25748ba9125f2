"""The session management page: see where you are signed in, end one session or all of them.
Revocation takes effect on the revoked session's very next request."""

from __future__ import annotations

import uuid

from tests import factories
from tests.helpers import csrf_token, current_sid, login, post

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)


def device(app, user_agent, user, ip="127.0.0.1"):
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": ip})
    login(client, user)
    return client


def signed_out(client, org) -> bool:
    response = client.get(f"/o/{org.slug}/")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def revoke_events(org) -> list[dict]:
    return factories.execute(
        "SELECT details FROM audit_events WHERE org_id = :o AND action = 'session.revoke'"
        " ORDER BY at", o=org.id,
    ).scalars().all()


def test_the_page_lists_my_live_sessions_with_device_ip_and_org(app):
    org, people = factories.org_with_members(me="owner")
    laptop = device(app, FIREFOX, people["me"], ip="203.0.113.7")
    phone = device(app, CHROME_MAC, people["me"], ip="198.51.100.9")
    post(phone, "/logout")
    desk = device(app, CHROME_MAC, people["me"], ip="198.51.100.10")
    page = laptop.get("/account/sessions")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Firefox 128 on Linux" in html and "Chrome 126 on Mac OS X" in html
    assert "203.0.113.7" in html and "198.51.100.10" in html
    assert "198.51.100.9" not in html  # signed out: not listed
    assert org.name in html
    assert html.count('aria-current="true"') == 1
    assert (f'data-session="{current_sid(laptop)}"' in html
            and f'data-session="{current_sid(desk)}"' in html)
    assert html.index(current_sid(laptop)) < html.index(current_sid(desk))  # this device first
    # Nobody else's sessions.
    stranger = device(app, FIREFOX, factories.org_with_members(x="owner")[1]["x"])
    assert current_sid(stranger) not in html


def test_revoking_another_device_signs_it_out_on_its_next_request(app):
    org, people = factories.org_with_members(me="owner")
    laptop = device(app, FIREFOX, people["me"])
    phone = device(app, CHROME_MAC, people["me"])
    assert not signed_out(phone, org)
    phone_sid = current_sid(phone)
    response = post(laptop, f"/account/sessions/{phone_sid}/revoke")
    assert response.status_code == 303
    assert signed_out(phone, org)
    assert not signed_out(laptop, org)
    (event,) = [e for e in revoke_events(org) if phone_sid in e["sessions"]]
    assert event["scope"] == "one" and event["count"] == 1


def test_revoking_my_current_session_signs_me_out(app):
    org, people = factories.org_with_members(me="owner")
    laptop = device(app, FIREFOX, people["me"])
    response = post(laptop, f"/account/sessions/{current_sid(laptop)}/revoke")
    assert response.headers["Location"].endswith("/login")
    assert signed_out(laptop, org)


def test_sign_out_everywhere_ends_every_session_and_audits_each_org(app):
    org_a, people = factories.org_with_members(me="owner")
    org_b = factories.OrgFactory()
    factories.MembershipFactory(org_id=org_b.id, user_id=people["me"].id, role="member")
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org_a.id,
                      u=people["me"].id)  # both devices sign in to A
    laptop = device(app, FIREFOX, people["me"])
    phone = device(app, CHROME_MAC, people["me"])
    post(phone, "/switch", {"slug": org_b.slug})
    in_b = factories.execute("SELECT org_id FROM user_sessions WHERE id = :s",
                             s=current_sid(phone)).scalar()
    assert in_b == org_b.id
    response = post(laptop, "/account/sessions/revoke-all")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert signed_out(laptop, org_a) and signed_out(phone, org_b)
    live = factories.execute(
        "SELECT count(*) FROM user_sessions WHERE user_id = :u AND revoked_at IS NULL",
        u=people["me"].id,
    ).scalar()
    assert live == 0
    assert [e["scope"] for e in revoke_events(org_a)] == ["all"]
    assert [e["scope"] for e in revoke_events(org_b)] == ["all"]


def test_another_users_session_cannot_be_revoked(app):
    org, people = factories.org_with_members(me="owner", victim="member")
    mine = device(app, FIREFOX, people["me"])
    theirs = device(app, FIREFOX, people["victim"])
    for target in (current_sid(theirs), str(uuid.uuid4()), "not-a-uuid"):
        response = post(mine, f"/account/sessions/{target}/revoke")
        assert response.status_code == 404, target
    assert not signed_out(theirs, org)
    assert revoke_events(org) == []


def test_revocation_needs_csrf(app):
    org, people = factories.org_with_members(me="owner")
    laptop = device(app, FIREFOX, people["me"])
    phone = device(app, CHROME_MAC, people["me"])
    assert laptop.post(f"/account/sessions/{current_sid(phone)}/revoke").status_code == 400
    assert laptop.post("/account/sessions/revoke-all").status_code == 400
    # A token from another session does not do either.
    foreign_token = csrf_token(phone, "/switcher")
    response = laptop.post("/account/sessions/revoke-all", data={"csrf_token": foreign_token})
    assert response.status_code == 400
    assert not signed_out(phone, org) and not signed_out(laptop, org)


def test_the_page_needs_a_signed_in_user(client):
    response = client.get("/account/sessions")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
