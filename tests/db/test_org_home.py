"""Issue 21: the org home helps a new org along (getting-started checklist), lists pending
invitations and recent audit events, each only to the people who may act on them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests import factories
from tests.helpers import login


def home(client, org) -> str:
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def steps(html: str) -> dict[str, bool]:
    return {key: done == "true" for key, done in
            re.findall(r'data-step="([a-z_]+)" data-done="(true|false)"', html)}


def test_a_new_orgs_owner_gets_the_checklist_and_it_follows_what_is_done(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "growth")
    login(client, people["owner"])
    assert steps(home(client, org)) == {"invite": False, "domain": False, "sso": False,
                                        "api_key": False}
    factories.invitation(org, "first@example.com")
    factories.api_key(org)
    factories.execute("INSERT INTO sso_domains (org_id, domain, token, verified_at)"
                      " VALUES (:o, :d, repeat('t', 20), now())", o=org.id,
                      d=f"{org.slug}.example")
    assert steps(home(client, org)) == {"invite": True, "domain": True, "sso": False,
                                        "api_key": True}
    factories.execute("INSERT INTO sso_connections (org_id, kind) VALUES (:o, 'oidc')",
                      o=org.id)
    assert 'data-testid="getting-started"' not in home(client, org)  # all done: gone


def test_steps_the_plan_excludes_carry_a_lock(client):
    org, people = factories.org_with_members(owner="owner")  # Free: no SSO, no API
    login(client, people["owner"])
    html = home(client, org)
    sso = html.split('data-step="sso"', 1)[1].split("</li>", 1)[0]
    invite = html.split('data-step="invite"', 1)[1].split("</li>", 1)[0]
    assert 'class="lock"' in sso and 'class="lock"' not in invite


def test_pending_invitations_and_recent_events_for_those_who_may_see_them(app, client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    for i in range(7):
        factories.invitation(org, f"pending{i}@example.com")
    factories.invitation(org, "gone@example.com", status="revoked")
    factories.execute("INSERT INTO audit_events (org_id, actor, action, target)"
                      " VALUES (:o, 'owner@example.com', 'org.update', 'org:renamed')",
                      o=org.id)
    login(client, people["owner"])
    html = home(client, org)
    pending = html.split('data-testid="pending-invitations"', 1)[1].split("</section>", 1)[0]
    assert "Pending invitations (7)" in pending and pending.count("<li>") == 5
    assert "gone@example.com" not in pending and "All 7 invitations" in pending
    recent = html.split('data-testid="recent-events"', 1)[1].split("</section>", 1)[0]
    assert "org.update" in recent and "org:renamed" in recent

    member = app.test_client()
    login(member, people["bob"])
    plain = home(member, org)
    for panel in ("getting-started", "pending-invitations", "recent-events"):
        assert f'data-testid="{panel}"' not in plain
    assert "pending0@example.com" not in plain


def test_the_home_never_shows_another_orgs_invitations_or_events(client):
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    factories.invitation(org_b, "b-secret@example.com")
    factories.execute("INSERT INTO audit_events (org_id, actor, action, target)"
                      " VALUES (:o, 'b-actor', 'org.update', 'org:b-secret')", o=org_b.id)
    login(client, people_a["owner"])
    html = home(client, org_a)
    assert "b-secret" not in html and "b-actor" not in html
    assert steps(html)["invite"] is False


def test_the_recent_events_escape_whatever_the_log_holds(client):
    """The events list is written with autoescape off (issue 20): every value from the audit
    log must still be escaped by hand."""
    org, people = factories.org_with_members(owner="owner")
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target) VALUES"
        " (:o, '<b>actor</b>', 'org.<i>x</i>', '<script>alert(1)</script>')", o=org.id)
    login(client, people["owner"])
    recent = home(client, org).split('data-testid="recent-events"', 1)[1].split("</section>")[0]
    assert "<b>" not in recent and "<i>" not in recent and "<script>" not in recent
    assert "&lt;b&gt;actor&lt;/b&gt;" in recent
    assert 'title="org.&lt;i&gt;x&lt;/i&gt;"' in recent
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in recent
    assert "<time datetime=" in recent  # the time element itself is written as built


def test_pending_invitations_show_the_newest_first_and_count_only_live_ones(client):
    # The count and the list come from one pass over the pending invitations (home.py):
    # the newest SHOWN of them, newest first; expired and revoked ones in neither.
    org, people = factories.org_with_members(owner="owner")
    now = datetime.now(UTC)
    for i in range(8):
        factories.invitation(org, f"p{i}@example.com", sent_at=now - timedelta(hours=i))
    factories.invitation(org, "old@example.com", sent_at=now - timedelta(days=20),
                         expires_at=now - timedelta(days=6))
    factories.invitation(org, "revoked@example.com", status="revoked")
    login(client, people["owner"])
    pending = home(client, org).split('data-testid="pending-invitations"', 1)[1]
    pending = pending.split("</section>", 1)[0]
    assert "Pending invitations (8)" in pending and "All 8 invitations" in pending
    shown = [line.split(" · ", 1)[0].strip() for line in pending.split("<li>")[1:]]
    assert shown == [f"p{i}@example.com" for i in range(5)]


def test_a_removed_member_sees_the_home_no_more(client):
    # Both of the home's statements run alone (orgs/routes.py, home.py), each under its
    # own context: the membership is checked again on the very next request.
    org, people = factories.org_with_members(owner="owner", bob="admin")
    login(client, people["bob"])
    assert org.name in home(client, org)
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code != 200
    assert org.name not in response.get_data(as_text=True)
