"""The members page through HTTP: list, search, filter, pages, htmx fragments, remove, leave."""

from __future__ import annotations

import pytest

from dashboard.db import recording_statements
from tests import factories
from tests.helpers import login, next_page_link, post


def role_in_db(org, user):
    return factories.execute(
        "SELECT role FROM memberships WHERE org_id = :o AND user_id = :u", o=org.id, u=user.id
    ).scalar()


def audit_actions(org, action):
    return factories.execute(
        "SELECT details FROM audit_events WHERE org_id = :o AND action = :a ORDER BY at",
        o=org.id, a=action,
    ).scalars().all()


def test_members_page_lists_name_email_role_joined_and_last_active(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    response = client.get(f"/o/{org.slug}/members")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for person in people.values():
        assert person.name in html and person.email in html
    assert "Joined" in html and "Last active" in html
    assert 'data-testid="members-summary"' in html and "of 2 members" in html


def test_search_and_role_filter_work_as_plain_links_and_as_htmx_fragments(client):
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 3, prefix="zebra")
    factories.add_members(org, 2, prefix="yak", role="guest")
    login(client, people["owner"])
    page = client.get(f"/o/{org.slug}/members?q=zebra").get_data(as_text=True)
    assert page.count('data-testid="member-row"') == 3 and "<html" in page
    fragment = client.get(
        f"/o/{org.slug}/members?role=guest",
        headers={"HX-Request": "true", "HX-Target": "members-list"},
    ).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith("<div id=\"members-list\"")
    assert fragment.count('data-testid="member-row"') == 2 and "Yak" in fragment
    assert "Zebra" not in fragment


def test_search_treats_wildcards_literally(client):
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 2, prefix="plain")
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/members?q=%25").get_data(as_text=True)
    assert "No members match." in html


def test_pages_have_plain_next_and_previous_links(client):
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 12, prefix="pager")
    login(client, people["owner"])
    first = client.get(f"/o/{org.slug}/members?per_page=5").get_data(as_text=True)
    assert first.count('data-testid="member-row"') == 5 and "Page 1 of 3" in first
    next_link = next_page_link(first)
    second = client.get(next_link).get_data(as_text=True)
    assert "Page 2 of 3" in second and 'rel="prev"' in second
    last = client.get(f"/o/{org.slug}/members?per_page=5&page=3").get_data(as_text=True)
    assert last.count('data-testid="member-row"') == 3 and 'rel="next"' not in last


@pytest.mark.parametrize("args", ["page=-4", "page=abc", "per_page=100000", "per_page=0",
                                  "role=no-such-role", "q=" + "x" * 5000])
def test_odd_list_arguments_are_clamped_not_errors(client, args):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    assert client.get(f"/o/{org.slug}/members?{args}").status_code == 200


def test_the_number_of_queries_does_not_grow_with_the_page_size(app, client):
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 120, prefix="counted")
    login(client, people["owner"])
    client.get(f"/o/{org.slug}/members")  # warm up (session touch, slug resolution)
    counts = {}
    for per_page in (5, 50, 100):
        with recording_statements(app.extensions["tenantdesk.db"].engine) as statements:
            response = client.get(f"/o/{org.slug}/members?per_page={per_page}&q=counted")
        assert response.get_data(as_text=True).count('data-testid="member-row"') == per_page
        counts[per_page] = len(statements)
    assert counts[5] == counts[50] == counts[100], counts
    assert counts[50] <= 6, counts


def test_guests_cannot_see_the_members_page(client):
    org, people = factories.org_with_members(owner="owner", gina="guest")
    login(client, people["gina"])
    assert client.get(f"/o/{org.slug}/members").status_code == 403


def test_members_see_the_list_but_no_management_buttons(client):
    org, people = factories.org_with_members(owner="owner", bob="member", cat="member")
    login(client, people["bob"])
    html = client.get(f"/o/{org.slug}/members").get_data(as_text=True)
    assert people["cat"].email in html
    assert "/remove" not in html and 'class="inline-role"' not in html
    assert "Invite people" not in html
    assert "Leave" in html


def test_admin_sees_controls_for_members_but_not_for_owners(client):
    org, people = factories.org_with_members(owner="owner", adam="admin", bob="member")
    login(client, people["adam"])
    html = client.get(f"/o/{org.slug}/members").get_data(as_text=True)
    assert f"/members/{people['bob'].id}/remove" in html
    assert f"/members/{people['owner'].id}/remove" not in html
    assert f'id="role-{people["bob"].id}"' in html
    assert f'id="role-{people["owner"].id}"' not in html
    # the admin's select never offers Owner
    select = html.split(f'id="role-{people["bob"].id}"')[1].split("</select>")[0]
    assert 'value="owner"' not in select and 'value="admin"' in select


HOSTILE = '<script>alert("x")</script> & \'q\''


def test_names_and_roles_are_escaped_in_rows_selects_and_the_htmx_row(client):
    """The rows template escapes a person's values by hand (its loop is not autoescaped): a
    member's name and a custom role's name must still come out as text everywhere they show."""
    org, people = factories.org_with_members(owner="owner", bob="member", cat="member")
    factories.execute("UPDATE users SET name = :n WHERE id = :u", n=HOSTILE, u=people["bob"].id)
    factories.CustomRoleFactory(org_id=org.id, key="evil", name="<b>Evil</b> & co")
    factories.execute("UPDATE memberships SET role = 'evil' WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["cat"].id)
    login(client, people["owner"])
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;q&#39;"
    for html in (
        client.get(f"/o/{org.slug}/members").get_data(as_text=True),
        post(client, f"/o/{org.slug}/members/{people['bob'].id}/role", {"role": "admin"},
             headers={"HX-Request": "true"}).get_data(as_text=True),
    ):
        assert "<script>alert" not in html and "<b>Evil" not in html
        assert f">{escaped}</a>" in html  # the name's link
        assert f"Role of {escaped}</label>" in html
        assert f'Remove<span class="visually-hidden"> {escaped}</span>' in html
    assert ">&lt;b&gt;Evil&lt;/b&gt; &amp; co</option>" in html  # the custom role, offered


def test_emails_and_read_only_role_names_are_escaped_too(client):
    """The rows template writes values safe by construction as they are (issue 20) and
    escapes each value a person controls by hand: the email, and a role name shown as text
    (a viewer who may not change roles) must come out as text as well."""
    org, people = factories.org_with_members(owner="owner", bob="member", cat="member")
    factories.execute("UPDATE users SET email = :e WHERE id = :u",
                      e='"><script>x</script>@example.com', u=people["cat"].id)
    factories.CustomRoleFactory(org_id=org.id, key="evil", name="<b>Evil</b> & co")
    factories.execute("UPDATE memberships SET role = 'evil' WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["cat"].id)
    login(client, people["bob"])
    html = client.get(f"/o/{org.slug}/members").get_data(as_text=True)
    assert "<script>x" not in html and "<b>Evil" not in html
    assert "<td>&#34;&gt;&lt;script&gt;x&lt;/script&gt;@example.com</td>" in html
    assert '<span data-testid="member-role">&lt;b&gt;Evil&lt;/b&gt; &amp; co</span>' in html


def test_inline_role_change_returns_the_row_and_audits(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/members/{people['bob'].id}/role",
                    {"role": "admin"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith("<tr") and "Saved" in html
    assert role_in_db(org, people["bob"]) == "admin"
    (details,) = audit_actions(org, "member.role_change")
    assert details["before"] == {"role": "member"} and details["after"] == {"role": "admin"}


def test_role_change_without_javascript_redirects_back(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/members/{people['bob'].id}/role", {"role": "guest"})
    assert response.status_code == 303
    assert role_in_db(org, people["bob"]) == "guest"


def test_a_role_change_applies_on_the_members_next_request(client, app):
    org, people = factories.org_with_members(owner="owner", bob="admin")
    other = app.test_client()
    login(other, people["bob"])
    assert other.get(f"/o/{org.slug}/invitations").status_code == 200
    login(client, people["owner"])
    post(client, f"/o/{org.slug}/members/{people['bob'].id}/role", {"role": "guest"})
    assert other.get(f"/o/{org.slug}/invitations").status_code == 403


def test_refused_htmx_role_change_shows_the_reason_in_the_row(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    response = post(client, f"/o/{org.slug}/members/{people['owner'].id}/role",
                    {"role": "member"}, headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert "at least one owner" in response.get_data(as_text=True)
    assert role_in_db(org, people["owner"]) == "owner"


def test_remove_asks_for_confirmation_then_removes_and_audits(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    path = f"/o/{org.slug}/members/{people['bob'].id}/remove"
    confirm = client.get(path)
    assert confirm.status_code == 200 and "Remove" in confirm.get_data(as_text=True)
    assert role_in_db(org, people["bob"]) == "member"  # a GET changes nothing
    assert post(client, path).status_code == 303
    assert role_in_db(org, people["bob"]) is None
    (details,) = audit_actions(org, "member.remove")
    assert details["before"] == {"role": "member"}


def test_removed_member_loses_access_on_the_next_request(client, app):
    org, people = factories.org_with_members(owner="owner", bob="member")
    bob = app.test_client()
    login(bob, people["bob"])
    assert bob.get(f"/o/{org.slug}/members").status_code == 200
    login(client, people["owner"])
    post(client, f"/o/{org.slug}/members/{people['bob'].id}/remove")
    assert bob.get(f"/o/{org.slug}/members").status_code == 404


def test_a_member_can_leave(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    assert "Leave" in client.get(f"/o/{org.slug}/leave").get_data(as_text=True)
    response = post(client, f"/o/{org.slug}/leave")
    assert response.status_code == 303 and response.headers["Location"].endswith("/switcher")
    assert role_in_db(org, people["bob"]) is None
    (details,) = audit_actions(org, "member.leave")
    assert details["before"] == {"role": "member"}
    assert client.get(f"/o/{org.slug}/").status_code == 404


def test_an_owner_can_leave_when_another_owner_remains(client):
    org, people = factories.org_with_members(owner="owner", olga="owner")
    login(client, people["owner"])
    assert post(client, f"/o/{org.slug}/leave").status_code == 303
    assert role_in_db(org, people["olga"]) == "owner"
