"""Issue 21: the not-in-plan page asks for an upgrade (owners mailed, staff console lists it),
navigation marks what the plan excludes, and the staff console's org list has pages."""

from __future__ import annotations

import re

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
