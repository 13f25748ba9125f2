"""POST /switch's target look-up rides in the session check's statement (issue 20, session
10: ``principal.principal_with``), attacked: the carried row is used only for the slug the
view switches to, only after the check found the session live, and the switch's own writes
still check the gate, so a membership lost after the look-up opens nothing."""

from __future__ import annotations

from dashboard.db import recording_statements
from tests import factories
from tests.helpers import audit_count, csrf_token, current_sid, login, session_row, switch


def test_the_check_carries_the_look_up_and_the_switch_still_works(app, client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    old_sid = current_sid(client)
    token = csrf_token(client, "/switcher")
    with recording_statements(app.extensions["tenantdesk.db"].engine) as seen:
        response = client.post("/switch", data={"csrf_token": token, "slug": org_b.slug})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/o/{org_b.slug}/")
    assert len(seen) == 2 and "app_user_orgs()" in seen[0] and "user_sessions" in seen[0]
    assert session_row(old_sid).revoked_at is not None
    assert session_row(current_sid(client)).org_id == org_b.id


def test_a_revoked_session_reads_no_target_and_switches_nothing(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    sid = current_sid(client)
    token = csrf_token(client, "/switcher")
    factories.execute("UPDATE user_sessions SET revoked_at = now(), revoked_reason = 'test'"
                      " WHERE id = :s", s=sid)
    response = client.post("/switch", data={"csrf_token": token, "slug": org_b.slug})
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    assert audit_count(org_b, "session.switch") == 0
    live = factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL", u=me.id).scalar()
    assert live == 0


def test_removed_from_the_target_after_the_look_up_opens_nothing(app, client, two_org_user,
                                                                 monkeypatch):
    """The look-up (in the check's statement) saw the membership; it is removed before the
    writes: app_switch_session asks the gate again and refuses; no session for the target,
    no audit row there."""
    from dashboard.auth import service

    me, org_a, org_b = two_org_user
    login(client, me)
    old_sid = current_sid(client)
    original = service.switch_target_of

    def then_removed(row, **kwargs):
        found = original(row, **kwargs)
        factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                          o=org_b.id, u=me.id)
        return found

    monkeypatch.setattr(service, "switch_target_of", then_removed)
    response = switch(client, org_b.slug)
    assert response.status_code in (302, 303, 404)
    assert "/o/" not in response.headers.get("Location", "")
    assert audit_count(org_b, "session.switch") == 0
    opened = factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                               " AND org_id = :o", u=me.id, o=org_b.id).scalar()
    assert opened == 0
    assert session_row(old_sid).org_id == org_a.id


def test_the_carried_row_is_for_the_slug_switched_to_only(app, client, two_org_user):
    """Two slug fields: the look-up and the view read the same (the first); a foreign org
    named second is never a target."""
    me, org_a, org_b = two_org_user
    stranger, _ = factories.org_with_members(owner="owner")
    login(client, me)
    token = csrf_token(client, "/switcher")
    response = client.post("/switch", data={"csrf_token": token,
                                            "slug": [stranger.slug, org_b.slug]})
    assert response.status_code == 404
    assert audit_count(stranger) == 0 and audit_count(org_b, "session.switch") == 0
    response = client.post("/switch", data={"csrf_token": token,
                                            "slug": [org_b.slug, stranger.slug]})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/o/{org_b.slug}/")
    assert session_row(current_sid(client)).org_id == org_b.id
    assert audit_count(stranger) == 0


def test_without_the_carried_row_the_view_reads_the_target_itself(app, client, two_org_user,
                                                                   monkeypatch):
    """Flask-Login's stock path (a remember-me cookie) loads the principal without the rider:
    the view reads the target on its own, with the same checks."""
    from dashboard.auth import principal

    me, org_a, org_b = two_org_user
    login(client, me)
    from flask import g

    original = principal.load_identity

    def no_rider(*args, rider=None, **kwargs):
        found = original(*args, rider=None, **kwargs)
        assert g.get("principal_rider") is None
        return found

    monkeypatch.setattr(principal, "load_identity", no_rider)
    response = switch(client, org_b.slug)
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/o/{org_b.slug}/")
    assert session_row(current_sid(client)).org_id == org_b.id
