"""Members, invitations and roles routes called with another org's ids: 404, no row read.

Org A's owner sends org B's member id, invitation id and role key in A's URLs (and B's slug).
Every answer is 404, B's rows are unchanged, and every SQL statement that carried one of B's
ids matched zero rows (``cursor.rowcount`` through a SQLAlchemy listener): RLS did not just
hide the row from the page, the database never handed it over.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests import factories
from tests.helpers import login, post


@pytest.fixture
def two_orgs():
    org_a, people_a = factories.org_with_members(owner="owner", ann="member")
    org_b, people_b = factories.org_with_members(owner="owner", ben="member")
    for org in (org_a, org_b):
        factories.put_on_plan(org, "scale")  # custom roles are a Scale feature
    invitation_b, token_b = factories.invitation(org_b, "b-invitee@example.com")
    factories.CustomRoleFactory(org_id=org_b.id, key="b-only-role", name="B only",
                                permissions=["org.view"])
    return (org_a, people_a), (org_b, people_b, invitation_b)


def b_state(org_b):
    return (
        factories.execute("SELECT user_id, role FROM memberships WHERE org_id = :o ORDER BY 1",
                          o=org_b.id).all(),
        factories.execute("SELECT id, role, status, token_hash, expires_at FROM invitations"
                          " WHERE org_id = :o", o=org_b.id).all(),
        factories.execute("SELECT key, name, permissions FROM roles WHERE org_id = :o",
                          o=org_b.id).all(),
        factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o",
                          o=org_b.id).scalar(),
    )


@contextmanager
def statements_touching(app, values):
    """(statement, rowcount) of every statement whose parameters carry one of ``values``."""
    wanted = {str(v) for v in values}
    seen = []
    engine = app.extensions["tenantdesk.db"].engine

    def _after(conn, cursor, statement, parameters, context, executemany):
        flat = parameters.values() if isinstance(parameters, dict) else (parameters or ())
        if wanted & {str(p) for p in flat}:
            seen.append((statement, cursor.rowcount))

    event.listen(engine, "after_cursor_execute", _after)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", _after)


def routes(org_a, org_b, ben, invitation_b):
    a, b = org_a.slug, org_b.slug
    return [
        ("GET", f"/o/{a}/members/{ben.id}/remove", {}),
        ("POST", f"/o/{a}/members/{ben.id}/remove", {}),
        ("POST", f"/o/{a}/members/{ben.id}/role", {"role": "guest"}),
        ("POST", f"/o/{a}/invitations/{invitation_b.id}/resend", {}),
        ("POST", f"/o/{a}/invitations/{invitation_b.id}/revoke", {}),
        ("GET", f"/o/{a}/roles/b-only-role", {}),
        ("POST", f"/o/{a}/roles/b-only-role", {"name": "Pwned", "permissions": ["org.view"]}),
        ("POST", f"/o/{a}/roles/b-only-role/delete", {}),
        # B's slug: A's owner is no member there
        ("GET", f"/o/{b}/members", {}),
        ("GET", f"/o/{b}/invitations", {}),
        ("GET", f"/o/{b}/roles", {}),
        ("GET", f"/o/{b}/leave", {}),
        ("GET", f"/o/{b}/members/{ben.id}/remove", {}),
        ("GET", f"/o/{b}/roles/b-only-role", {}),
    ]


def test_another_orgs_ids_answer_404_and_read_nothing(app, client, two_orgs):
    (org_a, people_a), (org_b, people_b, invitation_b) = two_orgs
    login(client, people_a["owner"])
    before = b_state(org_b)
    b_ids = [people_b["ben"].id, invitation_b.id, "b-only-role"]
    for method, path, data in routes(org_a, org_b, people_b["ben"], invitation_b):
        for headers in ({}, {"HX-Request": "true"}):
            with statements_touching(app, b_ids) as seen:
                if method == "GET":
                    response = client.get(path, headers=headers)
                else:
                    response = post(client, path, data, headers=headers)
            assert response.status_code == 404, (method, path, response.status_code)
            html = response.get_data(as_text=True)
            assert people_b["ben"].email not in html and org_b.name not in html
            assert all(rows == 0 for _, rows in seen), (method, path, seen)
            if path.startswith(f"/o/{org_a.slug}/"):
                assert seen, f"{path}: B's id never reached the database (vacuous check)"
    assert b_state(org_b) == before


def test_b_values_posted_in_a_form_to_a_urls_change_nothing_in_b(app, client, two_orgs):
    (org_a, people_a), (org_b, people_b, invitation_b) = two_orgs
    login(client, people_a["owner"])
    before = b_state(org_b)
    smuggled = {"user_id": people_b["ben"].id, "org_id": org_b.id, "slug": org_b.slug,
                "invitation_id": invitation_b.id, "role_key": "b-only-role"}
    post(client, f"/o/{org_a.slug}/members/{people_a['ann'].id}/role",
         {"role": "guest", **smuggled})
    post(client, f"/o/{org_a.slug}/invitations",
         {"emails": "someone@example.com", "role": "member", **smuggled})
    post(client, f"/o/{org_a.slug}/roles", {"name": "Local", "permissions": ["org.view"],
                                            **smuggled})
    assert b_state(org_b) == before
    # ... and they acted on A only
    assert factories.execute("SELECT role FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=org_a.id, u=people_a["ann"].id).scalar() == "guest"


def test_a_member_list_never_shows_another_orgs_people(client, two_orgs):
    (org_a, people_a), (org_b, people_b, _) = two_orgs
    login(client, people_a["owner"])
    html = client.get(f"/o/{org_a.slug}/members?q=").get_data(as_text=True)
    assert people_a["ann"].email in html and people_b["ben"].email not in html
    searched = client.get(f"/o/{org_a.slug}/members?q={people_b['ben'].email}")
    assert "No members match." in searched.get_data(as_text=True)  # the query is echoed only
    pending = client.get(f"/o/{org_a.slug}/invitations").get_data(as_text=True)
    assert "b-invitee@example.com" not in pending
    roles = client.get(f"/o/{org_a.slug}/roles").get_data(as_text=True)
    assert "B only" not in roles
