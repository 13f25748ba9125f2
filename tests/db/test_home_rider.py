"""Issue 20, session 11: the org home's read rides in the session check's statement
(orgs/home_read.py): one statement per request. It is built for the role the token names;
the page uses it only when the check finds exactly that role's permissions in that org, and
reads with a statement of its own otherwise, so a role changed since sign-in shows the new
role's panels, never the old one's."""

from __future__ import annotations

from dashboard.db import recording_statements
from tests import factories
from tests.helpers import login

PANELS = ("getting-started", "pending-invitations", "recent-events")


def _home(app, client, org) -> tuple[str, int]:
    """The home's HTML and how many statements it sent."""
    with recording_statements(app.extensions["tenantdesk.db"].engine) as sent:
        response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 200
    return response.get_data(as_text=True), len(sent)


def _panels(html: str) -> set[str]:
    return {panel for panel in PANELS if f'data-testid="{panel}"' in html}


def _org():
    org, people = factories.org_with_members(owner="owner", bob="member", cy="admin")
    factories.invitation(org, "pending@example.com")
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target)"
        " VALUES (:o, 'owner@example.com', 'org.update', 'org:renamed')",
        o=org.id,
    )
    return org, people


def test_the_home_is_one_statement_for_each_built_in_role(app):
    org, people = _org()
    shown = {}
    for who in ("owner", "cy", "bob"):
        client = app.test_client()
        login(client, people[who])
        _home(app, client, org)  # warm-up (the entitlements' catalogue)
        html, statements = _home(app, client, org)
        assert statements == 1, who
        assert org.name in html
        shown[who] = _panels(html)
    assert "pending-invitations" in shown["owner"] and "recent-events" in shown["owner"]
    assert shown["bob"] == set()  # a member: none of the three panels


def test_a_role_changed_since_sign_in_shows_the_new_roles_panels(app, client):
    org, people = _org()
    login(client, people["cy"])  # an admin: the token says "admin"
    html, _ = _home(app, client, org)
    assert "pending@example.com" in html
    factories.execute(
        "UPDATE memberships SET role = 'member' WHERE org_id = :o AND user_id = :u",
        o=org.id,
        u=people["cy"].id,
    )
    html, statements = _home(app, client, org)
    assert _panels(html) == set() and "pending@example.com" not in html
    assert statements == 2  # read for the role the check found, not the token's
    html, statements = _home(app, client, org)  # the token now says "member": one again
    assert _panels(html) == set() and statements == 1


def test_a_promotion_since_sign_in_shows_the_panels_of_the_new_role(app, client):
    org, people = _org()
    login(client, people["bob"])
    assert _panels(_home(app, client, org)[0]) == set()
    factories.execute(
        "UPDATE memberships SET role = 'owner' WHERE org_id = :o AND user_id = :u",
        o=org.id,
        u=people["bob"].id,
    )
    html, _ = _home(app, client, org)
    assert {"pending-invitations", "recent-events"} <= _panels(html)


def test_a_custom_role_reads_the_home_with_its_own_permissions(app, client):
    org, people = _org()
    factories.execute(
        "INSERT INTO roles (org_id, key, name, permissions) VALUES"
        " (:o, 'auditor', 'Auditor', '{org.view,audit.view}')",
        o=org.id,
    )
    factories.execute(
        "UPDATE memberships SET role = 'auditor' WHERE org_id = :o AND user_id = :u",
        o=org.id,
        u=people["bob"].id,
    )
    login(client, people["bob"])
    html, statements = _home(app, client, org)
    assert _panels(html) == {"recent-events"} and "org:renamed" in html
    assert statements == 2  # no rider for a custom role: its permissions come from the check


def test_another_orgs_home_carries_nothing_of_it(app, client):
    org, people = _org()
    other, _ = _org()
    login(client, people["owner"])
    _home(app, client, org)
    response = client.get(f"/o/{other.slug}/")
    assert response.status_code in (302, 403, 404)
    body = response.get_data(as_text=True)
    assert other.name not in body and "org:renamed" not in body
