"""Per-org security policy (require MFA, session age, idle timeout) and step-up, enforced on
the server on every request; the policy of org A never applies in org B."""

from __future__ import annotations

import json

import pytest

from dashboard.accounts import policy
from tests import factories
from tests.helpers import bearer_headers, csrf_token, login, post
from tests.security.test_mfa import enrol


def set_policy(org, **security):
    factories.execute("UPDATE organizations SET settings = settings || jsonb_build_object("
                      "'security', CAST(:s AS jsonb)) WHERE id = :o",
                      s=json.dumps(security), o=org.id)


def two_orgs():
    """A person who is a member of A and of B; signed in lands in A."""
    a, people = factories.org_with_members(owner="owner", member="member")
    b, _ = factories.org_with_members(owner="owner")
    person = people["member"]
    factories.MembershipFactory(org_id=b.id, user_id=person.id, role="member")
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=a.id, u=person.id)
    return a, b, person, people["owner"]


def test_required_mfa_sends_a_member_without_a_factor_to_set_one_up(app, client):
    a, b, person, _ = two_orgs()
    login(client, person)
    api_headers = bearer_headers(client)  # an access token from before the policy
    set_policy(a, require_mfa=True)
    home = client.get(f"/o/{a.slug}/")
    assert home.status_code == 303 and "/account/security-check" in home.headers["Location"]
    assert client.get(f"/o/{a.slug}/members").status_code == 303  # nothing of A
    check = client.get(home.headers["Location"])
    assert check.status_code == 302 and "/account" in check.headers["Location"]
    api = client.get("/api/v1/me", headers=api_headers)
    assert api.status_code == 403 and api.get_json()["error"]["code"] == "mfa_required"
    enrol(client)  # sets up TOTP and proves it: this session now counts
    assert client.get(f"/o/{a.slug}/").status_code == 200


def test_a_member_with_a_factor_verifies_it_on_entering(app, client):
    a, b, person, _ = two_orgs()
    helper = app.test_client()
    login(helper, person)
    _, codes = enrol(helper)
    set_policy(a, require_mfa=True)
    login(client, person)
    client.post("/login/verify", data={"csrf_token": csrf_token(client, "/login/verify"),
                                       "code": codes[0]})
    # As if this session had been opened before the person set up a factor:
    factories.execute("UPDATE user_sessions SET mfa_method = NULL WHERE user_id = :u",
                      u=person.id)
    check = client.get(f"/o/{a.slug}/")
    assert check.status_code == 303
    page = client.get(check.headers["Location"])
    assert page.status_code == 200 and "Verify your second factor" in page.get_data(as_text=True)


def test_policy_of_a_never_applies_in_b(app, client):
    a, b, person, _ = two_orgs()
    set_policy(a, require_mfa=True, idle_minutes=5, max_session_hours=1)
    login(client, person)
    switched = client.get(f"/o/{b.slug}/")  # the switch into B is allowed...
    assert switched.status_code == 303 and switched.headers["Location"].endswith(f"/o/{b.slug}/")
    assert client.get(f"/o/{b.slug}/").status_code == 200  # ...and B asks nothing
    factories.execute("UPDATE user_sessions SET last_seen_at = now() - interval '30 minutes',"
                      " signed_in_at = now() - interval '3 hours' WHERE user_id = :u",
                      u=person.id)
    assert client.get(f"/o/{b.slug}/").status_code == 200  # A's limits are not B's


def test_idle_timeout_and_session_age_of_the_org(app, client):
    a, _, person, _ = two_orgs()
    set_policy(a, idle_minutes=5)
    login(client, person)
    assert client.get(f"/o/{a.slug}/").status_code == 200
    factories.execute("UPDATE user_sessions SET last_seen_at = now() - interval '6 minutes'"
                      " WHERE user_id = :u AND revoked_at IS NULL", u=person.id)
    assert client.get(f"/o/{a.slug}/").status_code == 302  # signed out
    assert factories.execute("SELECT revoked_reason FROM user_sessions WHERE user_id = :u"
                             " ORDER BY created_at DESC LIMIT 1", u=person.id).scalar() \
        == "idle timeout"
    set_policy(a, max_session_hours=2)
    login(client, person)
    factories.execute("UPDATE user_sessions SET signed_in_at = now() - interval '3 hours'"
                      " WHERE user_id = :u AND revoked_at IS NULL", u=person.id)
    assert client.get(f"/o/{a.slug}/").status_code == 302


def test_a_switch_does_not_restart_the_session_age(app, client):
    a, b, person, _ = two_orgs()
    set_policy(a, max_session_hours=2)
    login(client, person)
    assert client.get(f"/o/{b.slug}/").status_code == 303  # into B
    factories.execute("UPDATE user_sessions SET signed_in_at = now() - interval '3 hours'"
                      " WHERE user_id = :u AND revoked_at IS NULL", u=person.id)
    assert client.get(f"/o/{b.slug}/").status_code == 200  # fine in B
    client.get(f"/o/{a.slug}/")  # back into A: the new session row keeps the sign-in time
    assert client.get(f"/o/{a.slug}/").status_code == 302


def test_the_installation_limit_applies_when_stricter(app, client):
    a, _, person, _ = two_orgs()
    set_policy(a, max_session_hours=24 * 365)
    login(client, person)
    factories.execute("UPDATE user_sessions SET signed_in_at = now() - make_interval("
                      "hours => :h) WHERE user_id = :u AND revoked_at IS NULL",
                      h=app.config["SESSION_MAX_AGE_HOURS"] + 1, u=person.id)
    assert client.get(f"/o/{a.slug}/").status_code == 302


def test_only_owners_edit_the_policy_and_it_is_audited(app, client):
    a, people = factories.org_with_members(owner="owner", admin="admin")
    login(client, people["admin"])
    assert client.get(f"/o/{a.slug}/settings/security").status_code == 403
    login(client, people["owner"])
    page = client.get(f"/o/{a.slug}/settings/security")
    assert page.status_code == 200
    refused = post(client, f"/o/{a.slug}/settings/security", {"require_mfa": "y",
                                                               "domain_join_role": "member"})
    assert refused.status_code == 400 and "for yourself first" in refused.get_data(as_text=True)
    enrol(client)
    saved = post(client, f"/o/{a.slug}/settings/security",
                 {"require_mfa": "y", "idle_minutes": "30", "domain_join_role": "member"})
    assert saved.status_code == 303
    settings = factories.execute("SELECT settings FROM organizations WHERE id = :o",
                                 o=a.id).scalar()
    assert settings["security"] == {"require_mfa": True, "idle_minutes": 30}
    assert settings["domain_join"] is False
    assert factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o AND action ="
                             " 'org.security_policy'", o=a.id).scalar() == 1
    bad = post(client, f"/o/{a.slug}/settings/security", {"idle_minutes": "-3",
                                                          "domain_join_role": "owner"})
    assert bad.status_code == 400


# ------------------------------------------------------------------------------ step-up


def make_stale(user):
    factories.execute("UPDATE user_sessions SET reauth_at = now() - interval '11 minutes'"
                      " WHERE user_id = :u", u=user.id)


@pytest.mark.parametrize("path, data", [
    ("/settings/deletion", {"confirm_slug": "{slug}"}),
    ("/api-keys", {"name": "step-up key", "scopes": "members:read"}),
    ("/sso/domains", {"domain": "stepup.example"}),
    ("/settings/security", {"domain_join_role": "member"}),
])
def test_sensitive_actions_ask_again_after_ten_minutes(app, client, path, data):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")
    owner = people["owner"]
    login(client, owner)
    token = csrf_token(client, f"/o/{org.slug}/settings")  # a form rendered while fresh
    before = factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o",
                               o=org.id).scalar()
    make_stale(owner)
    filled = {k: v.format(slug=org.slug) for k, v in data.items()}
    refused = client.post(f"/o/{org.slug}{path}", data={"csrf_token": token, **filled})
    assert refused.status_code == 403 and "Confirm it" in refused.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o",
                             o=org.id).scalar() == before  # nothing happened
    confirmed = client.post("/account/confirm", data={"csrf_token": token,
                                                      "password": "correct horse battery staple"})
    assert confirmed.status_code == 303
    done = client.post(f"/o/{org.slug}{path}", data={"csrf_token": token, **filled})
    assert done.status_code in (200, 201, 303), done.get_data(as_text=True)[:300]


def test_making_someone_an_owner_asks_again(app, client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    make_stale(people["owner"])
    path = f"/o/{org.slug}/members/{people['bob'].id}/role"
    assert post(client, path, {"role": "owner"}).status_code == 403
    htmx = post(client, path, {"role": "owner"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 403 and "/account/confirm" in htmx.headers["HX-Redirect"]
    assert post(client, path, {"role": "admin"}).status_code in (200, 303)  # not sensitive
    role = factories.execute("SELECT role FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=org.id, u=people["bob"].id).scalar()
    assert role == "admin"


def test_step_up_routes_are_marked(app):
    marked = {endpoint for endpoint, view in app.view_functions.items()
              if getattr(view, "step_up", False)}
    assert {"lifecycle.schedule_deletion", "apikeys.create", "sso.saml_metadata",
            "sso.oidc_save", "sso.delete", "accounts.totp_disable", "accounts.passkey_delete",
            "accounts.save_org_security", "scim.create_token"} <= marked


# ------------------------------------------------------------------------------ rules


@pytest.mark.parametrize("security, auth, mfa_method, missing", [
    (None, "password", None, False),
    ({"require_mfa": True}, "password", None, True),
    ({"require_mfa": True}, "break_glass", None, True),
    ({"require_mfa": True}, "password", "totp", False),
    ({"require_mfa": True}, "sso", None, False),  # the IdP's sign-in counts
    ({"require_mfa": True, "mfa_on_sso": True}, "sso", None, True),
    ({"require_mfa": True, "mfa_on_sso": True}, "sso", "passkey", False),
    ({"require_mfa": "yes"}, "password", None, False),  # only a real true turns it on
])
def test_mfa_rule(security, auth, mfa_method, missing):
    assert policy.mfa_missing(security, auth, mfa_method) is missing


def test_session_limits_take_the_stricter():
    config = {"SESSION_MAX_AGE_HOURS": 10}
    assert policy.session_end_reason(None, 9 * 3600, 0, config) is None
    assert policy.session_end_reason(None, 11 * 3600, 0, config) == "session too old"
    assert policy.session_end_reason({"max_session_hours": 20}, 11 * 3600, 0, config)
    assert policy.session_end_reason({"max_session_hours": 2}, 3 * 3600, 0, config)
    assert policy.session_end_reason({"idle_minutes": 5}, 0, 301, config) == "idle timeout"
    assert policy.session_end_reason({"idle_minutes": -5}, 0, 10**6, config) is None
