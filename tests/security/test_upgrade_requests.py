"""Issue 21: the not-in-plan page asks for an upgrade (owners mailed, staff console lists it),
navigation marks what the plan excludes, and the staff console's org list has pages."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from tests import factories
from tests.helpers import csrf_from, csrf_token, login, post


def requests_of(org):
    return factories.execute(
        "SELECT feature, handled_at FROM upgrade_requests WHERE org_id = :o", o=org.id).all()


def test_request_upgrade_mails_the_owners_and_shows_in_the_staff_console(
    app, client, mail_server
):
    org, people = factories.org_with_members(owner="owner", olga="owner", adam="admin")
    login(client, people["adam"])
    page = client.get(f"/o/{org.slug}/sso")
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    form = html.split('data-testid="request-upgrade"', 1)[1].split("</form>", 1)[0]
    assert 'name="feature"' in form and 'value="sso"' in form
    response = client.post(f"/o/{org.slug}/plan/upgrade-request",
                           data={"csrf_token": csrf_from(form), "feature": "sso",
                                 "note": "Our IdP is Okta"})
    assert response.status_code == 303
    assert [f for f, _ in requests_of(org)] == ["sso"]
    for owner in ("owner", "olga"):
        message = mail_server.last(to=people[owner].email)
        assert "Single sign-on" in message["Subject"]
        assert "Our IdP is Okta" in mail_server.text(message)
    assert all(m["To"] != people["adam"].email for m in mail_server.messages)
    assert factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o AND"
                             " action = 'license.upgrade_request'", o=org.id).scalar() == 1

    # asking again sends nothing new
    sent = len(mail_server.messages)
    again = post(client, f"/o/{org.slug}/plan/upgrade-request", {"feature": "sso"})
    assert again.status_code == 303 and len(requests_of(org)) == 1
    assert len(mail_server.messages) == sent

    staff_user = factories.UserFactory()
    factories.make_staff(staff_user)
    staff = app.test_client()
    login(staff, staff_user)
    console = staff.get("/admin/").get_data(as_text=True)
    row = console.split('data-testid="upgrade-request"', 1)[1].split("</tr>", 1)[0]
    assert org.name in row and "Single sign-on" in row and people["adam"].email in row
    action = re.search(r'action="(/admin/upgrade-requests/[^"]+)"', row).group(1)
    assert staff.post(action, data={"csrf_token": csrf_token(staff, "/admin/")}
                      ).status_code == 303
    assert requests_of(org)[0][1] is not None
    listed = staff.get("/admin/").get_data(as_text=True).split(
        'data-testid="upgrade-requests"', 1)[1].split("</section>", 1)[0]
    assert org.name not in listed
    # customers cannot reach the staff action
    assert post(client, action).status_code == 404


def test_bad_upgrade_requests_change_nothing(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "growth")
    login(client, people["owner"])
    for data in ({"feature": "teleportation"}, {"feature": "sso"},  # unknown; already included
                 {"feature": "scim", "note": "x" * 501}, {}):
        assert post(client, f"/o/{org.slug}/plan/upgrade-request", data).status_code == 400
    assert requests_of(org) == []


def test_navigation_locks_what_the_plan_excludes(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])

    def locked():
        html = client.get(f"/o/{org.slug}/members").get_data(as_text=True)
        nav = html.split('class="sidenav"', 1)[1].split("</nav>", 1)[0]
        return {label.strip() for label in re.findall(r">([^<>]+?) <span class=\"lock\"", nav)}

    assert {"Single sign-on", "SCIM", "Webhooks", "Audit streams", "API keys"} <= locked()
    factories.put_on_plan(org, "growth")
    assert "Single sign-on" not in locked() and "API keys" not in locked()
    assert "SCIM" in locked()


def test_the_staff_org_list_has_pages_and_search(app, client):
    tag = factories.unique("pg")
    for i in range(55):
        factories.OrgFactory(name=f"Paged {tag} {i:02d}", slug=f"paged-{tag}-{i:02d}")
    staff_user = factories.UserFactory()
    factories.make_staff(staff_user)
    login(client, staff_user)
    first = client.get(f"/admin/?q=Paged+{tag}").get_data(as_text=True)
    assert "Showing 1–50 of 55 organizations" in first
    assert f"Paged {tag} 00" in first and f"Paged {tag} 50" not in first
    second = client.get(f"/admin/?q=Paged+{tag}&page=2").get_data(as_text=True)
    assert "Showing 51–55 of 55" in second and f"Paged {tag} 54" in second
    assert f"Paged {tag} 00" not in second
    assert client.get(f"/admin/?q=Paged+{tag}&page=9").status_code == 303
    assert "No organization matches" in client.get("/admin/?q=zz-nothing-zz").get_data(
        as_text=True)


# --------------------------------------------------- "mark handled": the route under attack


def _handled_url(org_id, request_id) -> str:
    return f"/admin/upgrade-requests/{org_id}/{request_id}/handled"


def _open_request(org, feature="scim") -> str:
    return str(factories.execute(
        "INSERT INTO upgrade_requests (org_id, feature, requested_by)"
        " VALUES (:o, :f, (SELECT user_id FROM memberships WHERE org_id = :o LIMIT 1))"
        " RETURNING id", o=org.id, f=feature).scalar_one())


def _staff_client(app, *, staff=True):
    user = factories.UserFactory()
    factories.make_staff(user)
    client = app.test_client()
    login(client, user)
    client.csrf = csrf_token(client, "/admin/")
    if not staff:  # staff when signing in, not any more: the flag is read on every request
        factories.make_staff(user, staff=False)
    return client


def test_marking_an_upgrade_request_handled_refuses_every_wrong_caller_and_id(
        app, admin_engine):
    from tests.security.prober import RowDump

    org_a, a_people = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    req_a, req_b = _open_request(org_a), _open_request(org_b)
    done = _open_request(org_a, "sso")
    factories.execute("UPDATE upgrade_requests SET handled_at = now() WHERE id = :r", r=done)
    staff = _staff_client(app)
    customer = app.test_client()
    login(customer, a_people["owner"])  # the org's own owner is a customer, not staff
    customer.csrf = csrf_token(customer, "/switcher")
    key, _ = factories.api_key(org_a, ["org:write"])
    nobody = app.test_client()
    nobody.csrf = csrf_token(nobody, "/login")
    dumps = [RowDump(admin_engine, org.id) for org in (org_a, org_b)]
    before = [d.take() for d in dumps]  # with every caller signed in already
    attempts = {
        "signed out": (nobody, _handled_url(org_a.id, req_a), True, {}),
        "an API key of the org": (nobody, _handled_url(org_a.id, req_a), True,
                                  {"Authorization": f"Bearer {key}"}),
        "the org's owner": (customer, _handled_url(org_a.id, req_a), True, {}),
        "staff no longer": (_staff_client(app, staff=False), _handled_url(org_a.id, req_a),
                            True, {}),
        "staff, no CSRF token": (staff, _handled_url(org_a.id, req_a), False, {}),
        "staff, another session's CSRF token": (staff, _handled_url(org_a.id, req_a),
                                                customer.csrf, {}),
        "staff, unknown id": (staff, _handled_url(org_a.id, uuid.uuid4()), True, {}),
        "staff, B's request under A": (staff, _handled_url(org_a.id, req_b), True, {}),
        "staff, A's request under B": (staff, _handled_url(org_b.id, req_a), True, {}),
        "staff, unknown org": (staff, _handled_url(uuid.uuid4(), req_a), True, {}),
        "staff, not an id": (staff, f"/admin/upgrade-requests/{org_a.id}/1%20OR%201=1/handled",
                             True, {}),
        "staff, handled already": (staff, _handled_url(org_a.id, done), True, {}),
    }
    expected = {"signed out": (302, 401), "an API key of the org": (302, 401),
                "staff, no CSRF token": (400,), "staff, another session's CSRF token": (400,)}
    problems = []
    for name, (client, url, csrf, headers) in attempts.items():
        data = {"csrf_token": client.csrf if csrf is True else csrf} if csrf else {}
        response = client.post(url, data=data, headers=headers)
        body = response.get_data(as_text=True)
        allowed = expected.get(name, (404,))
        if response.status_code not in allowed or "Traceback" in body:
            problems.append(f"{name}: {response.status_code}, wanted {allowed}")
        if response.status_code in (302, 303) and "/login" not in response.headers["Location"]:
            problems.append(f"{name}: redirected to {response.headers['Location']}")
    assert staff.get(_handled_url(org_a.id, req_a)).status_code == 405  # never by a GET
    assert not problems, "\n".join(problems)
    after = [d.take() for d in dumps]
    assert before == after, RowDump.diff(before[0] + before[1], after[0] + after[1])

    # The database refuses a non-staff caller whatever the app does.
    with pytest.raises(Exception, match="staff only"), admin_engine.connect() as conn:
        conn.execute(text("SET LOCAL ROLE tenantdesk_app"))  # this transaction only
        conn.execute(text("SELECT set_config('app.user_id', :u, true)"),
                     {"u": str(a_people["owner"].id)})
        conn.execute(text("SELECT app_staff_handle_upgrade_request(:o, :r)"),
                     {"o": org_a.id, "r": req_a})
    # ... and the real staff action still works on the right pair (the control).
    assert staff.post(_handled_url(org_a.id, req_a),
                      data={"csrf_token": staff.csrf}).status_code == 303
    handled = dict(factories.execute(
        "SELECT id::text, handled_at IS NOT NULL FROM upgrade_requests"
        " WHERE org_id IN (:a, :b)", a=org_a.id, b=org_b.id).all())
    assert handled == {req_a: True, req_b: False, done: True}
