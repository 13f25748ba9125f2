"""The org switch and the browser session token, attacked through real HTTP.

Every switch revokes the old session id; a replayed, tampered, expired or revoked token is
sent to sign in (never a 500); a foreign org's URL is a 404 that reads none of its rows; a
stale tab lands on a clear page and changes nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard import tenancy
from tests import factories
from tests.helpers import (
    audit_count,
    csrf_from,
    csrf_token,
    current_sid,
    login,
    post,
    session_row,
    switch,
)
from tests.probe import ContextRecorder, add_orgs, make_probe_app
from tests.security.test_schema_guard import tenant_tables

COOKIE = "tenantdesk_session"


@pytest.fixture(scope="module")
def probe_app(database_urls, tmp_path_factory):
    app = make_probe_app(database_urls, tmp_path_factory.mktemp("probe"))
    yield app
    app.extensions["tenantdesk.db"].dispose()


@pytest.fixture
def pclient(probe_app):
    return probe_app.test_client()


# --------------------------------------------------------------------------- the switch


def test_switch_revokes_the_old_token_and_the_new_one_works(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    assert client.get(f"/o/{org_a.slug}/").status_code == 200
    old_cookie = client.get_cookie(COOKIE).value
    old_sid = current_sid(client)

    response = switch(client, org_b.slug)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/o/{org_b.slug}/")
    new_sid = current_sid(client)
    assert new_sid != old_sid
    page = client.get(f"/o/{org_b.slug}/").get_data(as_text=True)
    assert org_b.name in page

    row = session_row(old_sid)
    assert row.revoked_at is not None and row.revoked_reason == "switched org"
    assert session_row(new_sid).org_id == org_b.id

    # Replaying the old token: refused everywhere, for both orgs.
    replay = factories_client_with_cookie(client, old_cookie)
    for path in (f"/o/{org_a.slug}/", f"/o/{org_b.slug}/", "/switcher"):
        response = replay.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    events = factories.execute(
        "SELECT details FROM audit_events WHERE org_id = :o AND action = 'session.switch'",
        o=org_b.id,
    ).scalars().all()
    assert events[-1]["before"] == {"org": org_a.slug}
    assert events[-1]["after"] == {"org": org_b.slug}
    assert events[-1]["via"] == "switcher"


def factories_client_with_cookie(client, cookie_value):
    other = client.application.test_client()
    other.set_cookie(COOKIE, cookie_value)
    return other


def test_the_new_token_never_serves_the_old_org(pclient, two_org_user):
    me, org_a, org_b = two_org_user
    login(pclient, me)
    switch(pclient, org_b.slug)
    in_b = current_sid(pclient)
    # A page of A with B's token is never served: a page load goes through the switch...
    response = pclient.get(f"/o/{org_a.slug}/")
    assert response.status_code == 303
    assert current_sid(pclient) != in_b
    assert session_row(in_b).revoked_at is not None
    # ...and an action on B with the token now for A is refused without changing anything.
    token = csrf_token(pclient, "/switcher")
    before = audit_count(org_b, "probe.action")
    response = pclient.post(f"/o/{org_b.slug}/probe/action", data={"csrf_token": token})
    assert response.status_code == 409
    assert audit_count(org_b, "probe.action") == before


def test_a_session_revoked_during_the_switch_opens_no_new_one(client, app, two_org_user):
    """The switch checks the session at the start of the request and rotates it later in the
    request: a revocation landing in between (sign out everywhere, an admin, the idle limit)
    must win. The rotation inserts the new row only if it revoked a live old one."""
    from sqlalchemy import event

    me, org_a, org_b = two_org_user
    login(client, me)
    old_sid = current_sid(client)
    engine = app.extensions["tenantdesk.db"].engine

    def revoke_first(conn, cursor, statement, parameters, context, executemany):
        if "app_switch_session" in statement:  # the rotation, about to run
            factories.execute("UPDATE user_sessions SET revoked_at = now(),"
                              " revoked_reason = 'elsewhere' WHERE id = :s", s=old_sid)

    event.listen(engine, "before_cursor_execute", revoke_first)
    try:
        response = switch(client, org_b.slug)
    finally:
        event.remove(engine, "before_cursor_execute", revoke_first)
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    assert session_row(old_sid).revoked_reason == "elsewhere"
    live = factories.execute("SELECT count(*) FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL", u=me.id).scalar()
    assert live == 0
    assert audit_count(org_b, "session.switch") == 0
    response = client.get(f"/o/{org_b.slug}/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_switch_writes_last_active_at_most_once_a_minute(client, two_org_user):
    """ "Last active" has minute resolution: a switch writes it only when it is older than a
    minute (as the session check does), so switching back and forth writes no membership row
    (and fires none of its triggers) each time."""
    me, org_a, org_b = two_org_user

    def membership_b():
        return factories.execute(
            "SELECT last_active_at, xmin::text::bigint AS version FROM memberships"
            " WHERE org_id = :o AND user_id = :u",
            o=org_b.id,
            u=me.id,
        ).one()

    factories.execute(
        "UPDATE memberships SET last_active_at = NULL WHERE org_id = :o AND user_id = :u",
        o=org_b.id,
        u=me.id,
    )
    login(client, me)
    assert switch(client, org_b.slug).status_code == 303
    first = membership_b()
    assert first.last_active_at is not None  # never active -> active now
    for _ in range(2):
        assert switch(client, org_a.slug).status_code == 303
        assert switch(client, org_b.slug).status_code == 303
        assert membership_b() == first  # within the minute: the row is not even rewritten
    assert audit_count(org_b, "session.switch") == 3  # every switch is still audited

    factories.execute(
        "UPDATE memberships SET last_active_at = now() - interval '2 minutes'"
        " WHERE org_id = :o AND user_id = :u",
        o=org_b.id,
        u=me.id,
    )
    stale = membership_b()
    assert switch(client, org_a.slug).status_code == 303
    assert switch(client, org_b.slug).status_code == 303
    assert membership_b().last_active_at > stale.last_active_at


def test_switching_to_the_active_org_keeps_the_session(client, two_org_user):
    me, org_a, _ = two_org_user
    login(client, me)
    sid = current_sid(client)
    assert switch(client, org_a.slug).status_code == 303
    assert current_sid(client) == sid


def test_deep_link_goes_through_the_switch(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    old_sid = current_sid(client)
    response = client.get(f"/o/{org_b.slug}/?tab=x")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/o/{org_b.slug}/?tab=x")
    assert session_row(old_sid).revoked_at is not None
    assert session_row(current_sid(client)).org_id == org_b.id
    assert org_b.name in client.get(f"/o/{org_b.slug}/").get_data(as_text=True)
    details = factories.execute(
        "SELECT details FROM audit_events WHERE org_id = :o AND action = 'session.switch'"
        " ORDER BY at DESC LIMIT 1", o=org_b.id,
    ).scalar()
    assert details["via"] == "link"


def test_switch_to_a_foreign_or_suspended_org_is_404_and_changes_nothing(client, two_org_user):
    me, org_a, org_b = two_org_user
    stranger, _ = factories.org_with_members(owner="owner")
    login(client, me)
    sid = current_sid(client)
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=org_b.id)
    for slug in (stranger.slug, org_b.slug, "no-such-org-at-all", "' OR 1=1 --"):
        assert switch(client, slug).status_code == 404, slug
    assert current_sid(client) == sid
    assert session_row(sid).revoked_at is None
    assert audit_count(stranger) == 0


def test_switch_needs_csrf(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    sid = current_sid(client)
    assert client.post("/switch", data={"slug": org_b.slug}).status_code == 400
    assert current_sid(client) == sid and session_row(sid).revoked_at is None


def test_switch_with_a_missing_blank_or_overlong_field_changes_nothing(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    sid = current_sid(client)
    token = csrf_token(client, "/switcher")
    for fields in (
        {},
        {"slug": ""},
        {"slug": "   "},
        {"slug": "x" * 41},
        {"slug": org_b.slug, "next": "/" + "x" * 2000},
    ):
        response = client.post("/switch", data={"csrf_token": token, **fields})
        assert response.status_code == 303, fields
        assert response.headers["Location"].endswith("/switcher"), fields
    assert current_sid(client) == sid and session_row(sid).revoked_at is None
    assert audit_count(org_b, "session.switch") == 0
    assert "Choose an organization to switch to." in client.get("/switcher").get_data(
        as_text=True
    )


def test_switch_fields_check_the_csrf_token_where_csrfprotect_did_not(app):
    """The view reads its fields without a FlaskForm: where CSRFProtect did not check the
    token before the view (``csrf_valid`` unset), reading them checks it, as the form did."""
    from flask_wtf.csrf import generate_csrf

    from dashboard.auth.forms import SwitchChoice, switch_choice

    with app.test_request_context("/switch", method="POST"):
        token = generate_csrf()
        assert switch_choice({"slug": "acme", "csrf_token": token}) == SwitchChoice("acme", "")
        assert switch_choice({"slug": "acme", "csrf_token": token + "x"}) is None
        assert switch_choice({"slug": "acme"}) is None


def test_htmx_switch_answers_with_a_redirect_header(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    token = csrf_token(client, "/switcher")
    response = client.post(
        "/switch", data={"slug": org_b.slug}, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/o/{org_b.slug}/"


# --------------------------------------------------------------------------- landing


def test_switch_lands_on_the_same_page_when_the_role_allows_it(pclient):
    org_a, people = factories.org_with_members(me="owner")
    me = people["me"]
    (org_admin,) = add_orgs(me, 1, role="admin")
    (org_guest,) = add_orgs(me, 1, role="guest")
    login(pclient, me)
    # Sign-in lands in one of the three orgs (by name); start from org A whichever it is.
    pclient.get(f"/o/{org_a.slug}/", follow_redirects=True)
    here = f"/o/{org_a.slug}/probe/admin-page?q=1"
    assert pclient.get(here).status_code == 200
    response = switch(pclient, org_admin.slug, here)
    assert response.headers["Location"].endswith(f"/o/{org_admin.slug}/probe/admin-page?q=1")
    # A guest may not open that page in their org: home instead of a 403.
    response = switch(pclient, org_guest.slug, f"/o/{org_admin.slug}/probe/admin-page")
    assert response.headers["Location"].endswith(f"/o/{org_guest.slug}/")
    # A page about one object is not "the same page" elsewhere.
    response = switch(pclient, org_a.slug, f"/o/{org_guest.slug}/probe/things/{org_a.id}")
    assert response.headers["Location"].endswith(f"/o/{org_a.slug}/")
    # Not a local path: home.
    for hostile in ("//evil.example/o/x/", "https://evil.example/", "/\t/evil.example"):
        response = switch(pclient, org_admin.slug, hostile)
        assert response.headers["Location"].endswith(f"/o/{org_admin.slug}/"), hostile


def test_landing_honours_custom_role_permissions(pclient):
    org_a, people = factories.org_with_members(me="owner")
    me = people["me"]
    (org_custom,) = add_orgs(me, 1, role="recruiter")
    factories.execute(
        "INSERT INTO roles (org_id, key, name, permissions)"
        " VALUES (:o, 'recruiter', 'Recruiter', '{org.view,members.invite}')", o=org_custom.id,
    )
    login(pclient, me)
    here = f"/o/{org_a.slug}/probe/admin-page"
    response = switch(pclient, org_custom.slug, here)
    assert response.headers["Location"].endswith(f"/o/{org_custom.slug}/probe/admin-page")
    assert pclient.get(response.headers["Location"]).status_code == 200


def test_last_active_org_is_remembered_at_next_login(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    switch(client, org_b.slug)
    post(client, "/logout")
    response = login(client, me)
    assert response.headers["Location"].endswith(f"/o/{org_b.slug}/")


def test_a_user_without_an_org_is_sent_to_create_one(client):
    loner = factories.UserFactory()
    response = login(client, loner)
    response = client.get(response.headers["Location"])
    assert response.headers["Location"].endswith("/orgs/new")
    assert "Create an organization" in client.get("/orgs/new").get_data(as_text=True)


def test_staff_without_an_org_land_in_the_console(client):
    staff = factories.UserFactory()
    factories.make_staff(staff)
    response = login(client, staff)
    response = client.get(response.headers["Location"])
    assert response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200


def test_removed_from_the_active_org_the_user_is_offered_the_others(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    factories.execute(
        "DELETE FROM memberships WHERE org_id = :o AND user_id = :u", o=org_a.id, u=me.id
    )
    assert client.get(f"/o/{org_a.slug}/").status_code == 404
    assert client.get("/").headers["Location"].endswith("/switcher")
    page = client.get("/switcher").get_data(as_text=True)
    assert org_b.name in page and org_a.name not in page


# --------------------------------------------------------------------------- switcher


def test_switcher_lists_orgs_with_roles_and_marks_the_active_one(client, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    page = client.get("/switcher").get_data(as_text=True)
    assert org_a.name in page and org_b.name in page
    assert "Owner" in page and "Member" in page
    assert page.count('aria-current="true"') == 1
    active = page.split('aria-current="true"')[0].rsplit("<button", 1)[1]
    assert f'data-org="{org_a.slug}"' in active
    assert 'type="search"' not in page  # two orgs: no search box


def test_switcher_searches_from_six_orgs_on(client):
    me = factories.UserFactory()
    orgs = add_orgs(me, 7)
    login(client, me)
    page = client.get("/switcher").get_data(as_text=True)
    assert 'type="search"' in page and "<label for=\"switcher-q\">" in page
    fragment = client.get(
        f"/switcher?q={orgs[3].slug}",
        headers={"HX-Request": "true", "HX-Target": "switcher-results"},
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="switcher-results"')
    assert orgs[3].slug in fragment and orgs[4].slug not in fragment
    dropdown = client.get("/switcher", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in dropdown and 'id="switcher-list"' in dropdown
    no_js = client.get(f"/switcher?q={orgs[5].slug}").get_data(as_text=True)
    assert "<html" in no_js and orgs[5].slug in no_js and orgs[6].slug not in no_js


def test_top_bar_dropdown_works_without_javascript(client, two_org_user):
    me, org_a, _ = two_org_user
    login(client, me)
    page = client.get(f"/o/{org_a.slug}/").get_data(as_text=True)
    assert 'id="org-switcher"' in page
    assert f'href="/switcher?next=/o/{org_a.slug}/"' in page


# --------------------------------------------------------------------------- bad tokens


def test_tampered_expired_and_revoked_tokens_go_to_sign_in(client, app, two_org_user):
    me, org_a, org_b = two_org_user
    login(client, me)
    good = client.get_cookie(COOKIE).value
    sid = current_sid(client)
    org_page = f"/o/{org_a.slug}/"

    def refused(cookie_value):
        other = factories_client_with_cookie(client, cookie_value)
        response = other.get(org_page)
        return response.status_code == 302 and "/login" in response.headers["Location"]

    flipped = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    assert refused(flipped)
    assert refused("not-even-a-token")
    assert refused(good + "x" * 100)
    assert refused(good.replace(".", "", 1))

    # Validly signed (the server's key) but naming an org the session row is not for.
    serializer = app.session_interface.get_signing_serializer(app)
    forged = serializer.dumps({"_user_id": sid, "uid": str(me.id), "oid": str(org_b.id)})
    assert refused(forged)
    assert session_row(sid).revoked_at is None  # the forgery revoked nothing

    factories.execute(
        "UPDATE user_sessions SET last_seen_at = now() - interval '30 days' WHERE id = :s", s=sid
    )
    assert refused(good)
    factories.execute(
        "UPDATE user_sessions SET last_seen_at = now(), revoked_at = now() WHERE id = :s", s=sid
    )
    assert refused(good)


def test_deactivated_user_is_signed_out_on_the_next_request(client, two_org_user):
    me, org_a, _ = two_org_user
    login(client, me)
    assert client.get(f"/o/{org_a.slug}/").status_code == 200
    factories.execute("UPDATE users SET is_active = false WHERE id = :u", u=me.id)
    assert client.get(f"/o/{org_a.slug}/").status_code == 302


# --------------------------------------------------------------------------- foreign org


def test_foreign_org_url_is_404_and_reads_no_row_of_it(pclient, probe_app, runtime_sessions,
                                                        admin_engine, two_org_user):
    me, org_a, _ = two_org_user
    victim, victims = factories.org_with_members(owner="owner", other="admin")
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action) VALUES (:o, 'seed', 'seed')",
        o=victim.id,
    )
    login(pclient, me)
    sid = current_sid(pclient)
    token = csrf_token(pclient, "/switcher")
    victim_audit = audit_count(victim)

    with ContextRecorder(probe_app) as recorder:
        responses = [
            pclient.get(f"/o/{victim.slug}/"),
            pclient.get(f"/o/{victim.slug}/probe/admin-page"),
            pclient.post(f"/o/{victim.slug}/probe/action", data={"csrf_token": token}),
            pclient.post("/switch", data={"csrf_token": token, "slug": victim.slug}),
        ]
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    for response in responses:
        assert victim.name not in response.get_data(as_text=True)

    # Every RLS context those requests ran under: none was the victim org, and under each
    # of them the runtime role sees not a single row of it.
    assert recorder.contexts
    assert all(org_id != str(victim.id) for _, org_id in recorder.contexts)
    tables = tenant_tables(admin_engine)
    for user_id, org_id in set(recorder.contexts):
        context = tenancy.TenantContext(user_id=user_id or None, org_id=org_id or None)
        with tenancy.scoped_session(runtime_sessions, context) as session:
            for table in tables:
                column = "id" if table == "organizations" else "org_id"
                seen = session.scalar(
                    text(f"SELECT count(*) FROM {table} WHERE {column} = :v"), {"v": victim.id}
                )
                assert seen == 0, (table, user_id, org_id)
    assert audit_count(victim) == victim_audit
    assert session_row(sid).revoked_at is None and current_sid(pclient) == sid


# --------------------------------------------------------------------------- role changes


def test_role_demotion_and_removal_take_effect_on_the_next_request(pclient):
    org, people = factories.org_with_members(owner="owner", me="admin")
    me = people["me"]
    login(pclient, me)
    page = f"/o/{org.slug}/probe/admin-page"
    assert pclient.get(page).status_code == 200
    factories.execute(
        "UPDATE memberships SET role = 'member' WHERE org_id = :o AND user_id = :u",
        o=org.id, u=me.id,
    )
    assert pclient.get(page).status_code == 403
    assert "Member" in pclient.get(f"/o/{org.slug}/").get_data(as_text=True)
    factories.execute(
        "UPDATE memberships SET role = 'admin' WHERE org_id = :o AND user_id = :u",
        o=org.id, u=me.id,
    )
    assert pclient.get(page).status_code == 200
    factories.execute(
        "DELETE FROM memberships WHERE org_id = :o AND user_id = :u", o=org.id, u=me.id
    )
    assert pclient.get(page).status_code == 404
    assert pclient.get(f"/o/{org.slug}/").status_code == 404


def test_suspending_the_active_org_takes_effect_on_the_next_request(client, two_org_user):
    me, org_a, _ = two_org_user
    login(client, me)
    assert client.get(f"/o/{org_a.slug}/").status_code == 200
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=org_a.id)
    response = client.get(f"/o/{org_a.slug}/")
    assert response.status_code == 403
    assert "suspended" in response.get_data(as_text=True)


# --------------------------------------------------------------------------- other tab


def test_a_stale_tab_lands_on_the_switched_page_and_changes_nothing(pclient, two_org_user):
    me, org_a, org_b = two_org_user
    login(pclient, me)
    tab_one = pclient.get(f"/o/{org_a.slug}/").get_data(as_text=True)  # tab 1 shows A
    stale_csrf = csrf_from(tab_one)
    switch(pclient, org_b.slug)  # tab 2 switches to B
    in_b = current_sid(pclient)
    before = (audit_count(org_a, "probe.action"), audit_count(org_b, "probe.action"))

    # Tab 1 submits a form of A.
    response = pclient.post(
        f"/o/{org_a.slug}/probe/action", data={"csrf_token": stale_csrf},
        headers={"Referer": f"http://localhost/o/{org_a.slug}/"},
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "You switched organisation" in page
    assert org_a.name in page and org_b.name in page
    assert f'name="next" value="/o/{org_a.slug}/"' in page
    # Tab 1's htmx request: sent to the same explanation, no silent switch.
    response = pclient.post(
        f"/o/{org_a.slug}/probe/action",
        headers={"HX-Request": "true", "X-CSRFToken": stale_csrf},
    )
    assert response.status_code == 409
    target = response.headers["HX-Redirect"]
    assert target.startswith("/switched?")
    response = pclient.get(f"/o/{org_a.slug}/", headers={"HX-Request": "true"})
    assert response.status_code == 409 and "HX-Redirect" in response.headers
    explained = pclient.get(target)
    assert explained.status_code == 200
    assert "You switched organisation" in explained.get_data(as_text=True)

    assert (audit_count(org_a, "probe.action"), audit_count(org_b, "probe.action")) == before
    assert current_sid(pclient) == in_b and session_row(in_b).revoked_at is None

    # "Switch back" on that page does switch back, to the page tab 1 was on.
    response = pclient.post(
        "/switch",
        data={"csrf_token": stale_csrf, "slug": org_a.slug, "next": f"/o/{org_a.slug}/",
              "via": "switched-page"},
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/o/{org_a.slug}/"
    )


# --------------------------------------------------------------------------- audit


def test_login_and_logout_are_audited_in_the_org_of_the_session(client, two_org_user):
    me, org_a, _ = two_org_user
    before_in, before_out = audit_count(org_a, "auth.login"), audit_count(org_a, "auth.logout")
    login(client, me)
    post(client, "/logout")
    assert audit_count(org_a, "auth.login") == before_in + 1
    assert audit_count(org_a, "auth.logout") == before_out + 1
    actor = factories.execute(
        "SELECT actor_user_id FROM audit_events WHERE org_id = :o AND action = 'auth.logout'",
        o=org_a.id,
    ).scalar()
    assert actor == me.id


# --------------------------------------------------------------------------- key rotation


def test_rotating_secret_key_with_a_fallback_logs_nobody_out(database_urls, tmp_path,
                                                             two_org_user):
    from tests.conftest import make_app

    me, org_a, _ = two_org_user
    old_key, new_key = "old-secret-key-" + "x" * 20, "new-secret-key-" + "y" * 20
    apps = [
        make_app(database_urls, tmp_path / "old", SECRET_KEY=old_key),
        make_app(database_urls, tmp_path / "new", SECRET_KEY=new_key,
                 SECRET_KEY_FALLBACKS=[old_key]),
        make_app(database_urls, tmp_path / "none", SECRET_KEY=new_key),
    ]
    try:
        before = apps[0].test_client()
        login(before, me)
        cookie = before.get_cookie(COOKIE).value
        rotated, forgotten = (factories_client_with_cookie(a.test_client(), cookie)
                              for a in apps[1:])
        assert rotated.get(f"/o/{org_a.slug}/").status_code == 200
        assert forgotten.get(f"/o/{org_a.slug}/").status_code == 302
    finally:
        for app in apps:
            app.extensions["tenantdesk.db"].dispose()
