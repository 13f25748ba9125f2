"""The members page's one statement is a transaction of its own (issue 20, session 10).

The principal's check runs alone (``principal_only``), then the page's statement (roles,
entitlements and the page of members) runs alone too, packed into its own context statement
(``tenancy.rows_alone``): no BEGIN, no COMMIT. These tests try to break that fast path: each
of the two statements must run every check of the gate under the request's own context, so
a removal, a revoked session or another org's rows show on the very next request.
"""

from __future__ import annotations

from tests import factories
from tests.db.test_cost_floor import _transaction_status_after_each_statement
from tests.helpers import login


def test_the_members_page_is_two_statements_each_its_own_transaction(app, client):
    org, people = factories.org_with_members(owner="owner", bob="admin", carol="member")
    login(client, people["bob"])
    client.get(f"/o/{org.slug}/")  # warm-up
    seen, stop = _transaction_status_after_each_statement(app)
    try:
        page = client.get(f"/o/{org.slug}/members")
        assert page.status_code == 200
        assert seen == ["IDLE", "IDLE"]  # the principal's check, then the page's statement
        html = page.get_data(as_text=True)
        assert all(p.email in html for p in people.values())
        assert "of 3 members" in html
        seen.clear()
        search = client.get(f"/o/{org.slug}/members", query_string={"q": people["carol"].email})
        assert search.status_code == 200 and seen == ["IDLE", "IDLE"]
        html = search.get_data(as_text=True)
        assert people["carol"].email in html and people["owner"].email not in html
    finally:
        stop()
    # The connection went back to transactions: a page of several statements shares one.
    seen, stop = _transaction_status_after_each_statement(app)
    try:
        assert client.get(f"/o/{org.slug}/members/{people['carol'].id}").status_code == 200
        assert len(seen) > 1 and set(seen) == {"INTRANS"}
    finally:
        stop()


def test_another_orgs_members_never_show_on_the_page_alone(client):
    org, people = factories.org_with_members(owner="owner", bob="admin")
    other, strangers = factories.org_with_members(owner="owner", eve="member")
    # Bob belongs to both orgs: each page shows its own org's members only.
    factories.MembershipFactory(org_id=other.id, user_id=people["bob"].id, role="member")
    login(client, people["bob"])
    html = client.get(f"/o/{org.slug}/members").get_data(as_text=True)
    assert people["owner"].email in html
    assert not any(s.email in html for s in strangers.values())
    searched = client.get(f"/o/{org.slug}/members", query_string={"q": strangers["eve"].email})
    html = searched.get_data(as_text=True)  # the search box shows the query itself
    assert "No members match." in html and 'data-testid="member-row"' not in html


def test_a_removed_member_or_a_revoked_session_sees_the_members_page_no_more(client):
    org, people = factories.org_with_members(owner="owner", bob="admin", carol="member")
    login(client, people["bob"])
    url = f"/o/{org.slug}/members"
    assert people["carol"].email in client.get(url).get_data(as_text=True)
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    answer = client.get(url)  # the very next request
    assert answer.status_code != 200
    assert people["carol"].email not in answer.get_data(as_text=True)

    login(client, people["owner"])
    assert people["carol"].email in client.get(url).get_data(as_text=True)
    factories.execute("UPDATE user_sessions SET revoked_at = now() WHERE user_id = :u",
                      u=people["owner"].id)
    answer = client.get(url)
    assert answer.status_code in (302, 401)
    assert people["carol"].email not in answer.get_data(as_text=True)


def test_a_demoted_editor_loses_the_role_selects_on_the_next_request(client):
    org, people = factories.org_with_members(owner="owner", bob="admin", carol="member")
    login(client, people["bob"])
    url = f"/o/{org.slug}/members"
    assert f'id="role-{people["carol"].id}"' in client.get(url).get_data(as_text=True)
    factories.execute("UPDATE memberships SET role = 'member' WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    html = client.get(url).get_data(as_text=True)
    assert people["carol"].email in html  # members may list members
    assert f'id="role-{people["carol"].id}"' not in html  # but no longer change roles
