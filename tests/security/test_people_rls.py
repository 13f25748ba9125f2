"""People's rows under RLS: what the runtime role can and cannot do with users and sessions.

Each test acts as the runtime role from a real tenant context and tries what an attacker with
SQL in hand would: read a stranger's email, any password hash, someone else's sessions,
rewrite another person's row, or list "members" while forgetting the join.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from dashboard import people, tenancy
from tests import factories


@pytest.fixture
def two_orgs():
    org_a, a = factories.org_with_members(owner="owner", guest="guest")
    org_b, b = factories.org_with_members(owner="owner", member="member")
    # One person in both orgs: visible from A as a member of A, never through B.
    factories.MembershipFactory(org_id=org_b.id, user_id=a["guest"].id, role="member")
    stranger = factories.UserFactory()  # member of nothing
    return org_a, a, org_b, b, stranger


def _as(runtime_sessions, user, org=None, **extra):
    return tenancy.scoped_session(
        runtime_sessions,
        tenancy.TenantContext(user_id=user.id, org_id=org.id if org else None, **extra),
    )


def _session_row(user, org=None) -> uuid.UUID:
    return factories.execute(
        "INSERT INTO user_sessions (user_id, org_id, ip, user_agent)"
        " VALUES (:u, :o, '203.0.113.9', 'probe') RETURNING id",
        u=user.id, o=org.id if org else None,
    ).scalar_one()


def test_users_shows_oneself_and_the_current_orgs_members_only(runtime_sessions, two_orgs):
    org_a, a, org_b, b, stranger = two_orgs
    with _as(runtime_sessions, a["owner"], org_a) as db:
        # The forgotten-WHERE members query: every "user" is one of A's people.
        seen = set(db.scalars(text("SELECT id FROM users")))
        assert seen == {a["owner"].id, a["guest"].id}
        emails = set(db.scalars(text("SELECT email FROM users")))
        assert b["owner"].email not in emails and stranger.email not in emails
        assert db.scalar(text("SELECT count(*) FROM users WHERE id = :u"),
                         {"u": b["member"].id}) == 0
    with _as(runtime_sessions, a["owner"]) as db:  # signed in, no org: oneself only
        assert set(db.scalars(text("SELECT id FROM users"))) == {a["owner"].id}
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as db:
        assert db.scalar(text("SELECT count(*) FROM users")) == 0


def test_a_forged_org_without_a_grant_shows_nobody_else(runtime_sessions, two_orgs):
    org_a, a, org_b, b, stranger = two_orgs
    with _as(runtime_sessions, stranger, org_b) as db:  # not a member of B: the gate says no
        assert set(db.scalars(text("SELECT id FROM users"))) == {stranger.id}


@pytest.mark.parametrize("column", ["password_hash", "*"])
def test_no_password_hash_is_readable_from_any_context(runtime_sessions, two_orgs, column):
    org_a, a, *_ = two_orgs
    for context in ({"user": a["owner"], "org": org_a}, {"user": a["owner"]}):
        with pytest.raises(ProgrammingError, match="permission denied"), \
                _as(runtime_sessions, **context) as db:
            db.execute(text(f"SELECT {column} FROM users WHERE id = :u"), {"u": a["owner"].id})


@pytest.mark.parametrize("statement", [
    "UPDATE users SET email = 'owned@example.com' WHERE id = :victim",
    "UPDATE users SET password_hash = 'x' WHERE id = :victim",
    "UPDATE users SET name = 'me' WHERE id = :me",  # even one's own row: functions only
    "INSERT INTO users (email, name, is_staff) VALUES ('new@example.com', 'New', true)",
    "DELETE FROM users WHERE id = :victim",
])
def test_nobody_writes_a_users_row_directly(runtime_sessions, two_orgs, statement):
    org_a, a, *_ = two_orgs
    with pytest.raises(ProgrammingError, match="permission denied"), \
            _as(runtime_sessions, a["owner"], org_a) as db:
        db.execute(text(statement), {"victim": a["guest"].id, "me": a["owner"].id})


def test_sessions_are_ones_own(runtime_sessions, two_orgs):
    org_a, a, org_b, b, stranger = two_orgs
    mine = _session_row(a["owner"], org_a)
    theirs = _session_row(a["guest"], org_a)
    with _as(runtime_sessions, a["owner"], org_a) as db:
        assert set(db.scalars(text("SELECT id FROM user_sessions"))) == {mine}
        # Revoking someone else's session changes nothing.
        result = db.execute(text("UPDATE user_sessions SET revoked_at = now() WHERE id = :s"),
                            {"s": theirs})
        assert result.rowcount == 0
    with pytest.raises(DBAPIError, match="row-level security"), \
            _as(runtime_sessions, a["owner"], org_a) as db:
        db.execute(text("INSERT INTO user_sessions (user_id, org_id) VALUES (:u, :o)"),
                   {"u": a["guest"].id, "o": org_a.id})
    assert factories.execute("SELECT revoked_at FROM user_sessions WHERE id = :s",
                             s=theirs).scalar_one() is None


def test_login_attempts_and_operator_functions_are_out_of_reach(runtime_sessions, two_orgs):
    org_a, a, *_ = two_orgs
    for statement in ("SELECT count(*) FROM login_attempts",
                      "DELETE FROM login_attempts",
                      f"SELECT app_operator_set_staff('{a['owner'].email}', true)",
                      "SELECT app_operator_user('x@example.com', 'X', NULL)"):
        with pytest.raises(ProgrammingError, match="permission denied"), \
                _as(runtime_sessions, a["owner"], org_a) as db:
            db.execute(text(statement))


def test_the_narrow_functions_answer_only_their_question(runtime_sessions, two_orgs):
    org_a, a, org_b, b, stranger = two_orgs
    session_id = _session_row(b["member"], org_b)
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as db:
        assert people.email_taken(db, f"  {stranger.email.upper()} ")
        assert not people.email_taken(db, f"nobody-{uuid.uuid4().hex}@example.com")
        idle = timedelta(days=1)
        assert people.session_live(db, session_id, b["member"].id, org_b.id, idle)
        assert not people.session_live(db, session_id, b["member"].id, org_a.id, idle)
        assert not people.session_live(db, uuid.uuid4(), b["member"].id, org_b.id, idle)


def test_last_org_is_set_only_on_ones_own_row_and_only_to_ones_org(runtime_sessions, two_orgs):
    org_a, a, org_b, b, stranger = two_orgs
    with _as(runtime_sessions, a["guest"], org_a) as db:
        people.set_last_org(db, org_b.id)  # a member of B too
    with _as(runtime_sessions, a["owner"], org_a) as db:
        people.set_last_org(db, org_b.id)  # not a member of B: ignored
    last = dict(factories.execute(
        "SELECT id, last_org_id FROM users WHERE id IN (:g, :o)",
        g=a["guest"].id, o=a["owner"].id).all())
    assert last == {a["guest"].id: org_b.id, a["owner"].id: None}


def test_sso_revocation_reaches_only_the_current_orgs_password_sessions(
        runtime_sessions, two_orgs):
    org_a, a, org_b, b, stranger = two_orgs
    in_a = _session_row(a["guest"], org_a)
    in_b = _session_row(b["member"], org_b)
    owner_in_a = _session_row(a["owner"], org_a)
    with _as(runtime_sessions, a["owner"], org_a) as db:
        assert people.revoke_org_password_sessions(db, keep_owners=True) == 1
    revoked = dict(factories.execute(
        "SELECT id, revoked_at IS NOT NULL FROM user_sessions WHERE id IN (:a, :b, :o)",
        a=in_a, b=in_b, o=owner_in_a).all())
    assert revoked == {in_a: True, in_b: False, owner_in_a: False}
    with pytest.raises(DBAPIError, match="no organization"), \
            _as(runtime_sessions, stranger, org_b) as db:
        people.revoke_org_password_sessions(db, keep_owners=False)


def test_make_staff_goes_through_the_operator_function(database_urls, tmp_path):
    """`tenantdesk make-staff` (the operator, as the migration role) still works with users
    under forced RLS; an unknown email is an error, not a silent no-op."""
    import os
    import subprocess
    import sys

    user = factories.UserFactory()
    env = {**os.environ, "DATABASE_URL": database_urls.runtime,
           "MIGRATION_DATABASE_URL": database_urls.owner, "INSTANCE_PATH": str(tmp_path)}

    def make_staff(*args):
        return subprocess.run([sys.executable, "-m", "dashboard.cli", "make-staff", *args],
                              env=env, capture_output=True, text=True, timeout=120)

    done = make_staff(user.email.upper())
    assert done.returncode == 0, done.stderr
    assert factories.execute("SELECT is_staff FROM users WHERE id = :u", u=user.id).scalar()
    assert make_staff(user.email, "--revoke").returncode == 0
    assert not factories.execute("SELECT is_staff FROM users WHERE id = :u", u=user.id).scalar()
    unknown = make_staff(f"nobody-{uuid.uuid4().hex}@example.com")
    assert unknown.returncode != 0 and "No user with email" in unknown.stderr


def _begin(db, email, max_per_email=5):
    return people.login_begin(db, email, "198.51.100.7", window_seconds=900,
                              max_per_email=max_per_email, max_per_ip=100000)


def test_sign_in_never_hands_out_the_password_hash(app, runtime_sessions):
    user = factories.UserFactory()
    stored = factories.execute("SELECT password_hash FROM users WHERE id = :u",
                               u=user.id).scalar_one()
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as db:
        check = _begin(db, user.email)
    settings, digest = stored.rsplit("$", 1)
    assert check.hash_template == f"{settings}${'A' * len(digest)}" != stored


def test_each_attempt_allows_one_check_and_only_a_match_clears_the_failures(
        app, runtime_sessions):
    from tests.conftest import TEST_PASSWORD

    passwords = app.extensions["tenantdesk.passwords"]
    user = factories.UserFactory()
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as db:
        wrong = _begin(db, user.email)
        assert people.login_finish(db, wrong, user.email,
                                   passwords.candidate(wrong.hash_template, "nope")) is None
        right = passwords.candidate(wrong.hash_template, TEST_PASSWORD)
        # The same attempt cannot be checked twice, not even with the right password...
        assert people.login_finish(db, wrong, user.email, right) is None
        # ...nor can a check skip step 1 (and with it the limit).
        forged = people.LoginCheck(False, attempt_id=wrong.attempt_id + 10**9)
        assert people.login_finish(db, forged, user.email, right) is None
    key = hashlib.sha256(user.email.lower().encode()).hexdigest()
    count = "SELECT count(*) FROM login_attempts WHERE email_key = :k"
    assert factories.execute(count, k=key).scalar_one() == 1
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as db:
        fresh = _begin(db, user.email)
        assert people.login_finish(db, fresh, user.email, right) == user.id
    assert factories.execute(count, k=key).scalar_one() == 0


def test_no_caller_can_lift_the_per_email_limit(runtime_sessions):
    email = f"target-{uuid.uuid4().hex}@example.com"
    key = hashlib.sha256(email.encode()).hexdigest()
    factories.execute("INSERT INTO login_attempts (email_key, ip)"
                      " SELECT :k, '192.0.2.1' FROM generate_series(1, 100)", k=key)
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as db:
        assert _begin(db, email, max_per_email=10**6).throttled
