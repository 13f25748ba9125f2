"""``app_switch_session`` (migration 0042_switch_one_call) called directly by the runtime role.

The org switch's writes are one SECURITY INVOKER function: nothing in it checks who may do
what; the policies on ``user_sessions`` (the person's own rows), ``memberships`` and
``audit_events`` (the gate, ``app_current_org()``) under the transaction's context do. These
tests call it as ``tenantdesk_app`` with ids the app would never pass: another person's
session or user id, an org the caller is not in (never was, removed, suspended), a revoked or
idle session. Each call must open nothing, revoke nothing, write no audit row and leave the
person's last org alone; a refused call either returns false or raises (then the
transaction rolls back).

Two checks are the function's own (migration 0049_switch_checks_caller): it opens nothing
unless ``p_uid`` is the context's person, ``p_org`` the context's org as the gate answers it
and the audit row goes to that org; and the old session must have been seen within the idle
limit passed in. Neither was reachable through the app before (the switch binds the context
to the target org, and POST /switch's session check refuses an idle session first).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from tests import factories

SWITCH = text(
    "SELECT app_switch_session(CAST(:old AS uuid), CAST(:new AS uuid), CAST(:uid AS uuid),"
    " CAST(:org AS uuid), 'test-ip', 'test-agent', 'password',"
    " CAST(:audit_org AS uuid), CAST(:uid AS uuid), 'user', 'org.switch', NULL,"
    " 'test-ip', 'test-agent', CAST(:details AS jsonb), interval '30 days')"
)


def open_session(user, org, *, idle_days: int = 0, revoked: bool = False) -> uuid.UUID:
    """A session row of ``user`` in ``org``, written as the superuser."""
    return factories.execute(
        "INSERT INTO user_sessions (user_id, org_id, last_seen_at, revoked_at)"
        " VALUES (:u, :o, now() - make_interval(days => :idle),"
        " CASE WHEN :revoked THEN now() END) RETURNING id",
        u=user.id,
        o=org.id,
        idle=idle_days,
        revoked=revoked,
    ).scalar_one()


@pytest.fixture
def world():
    """``me``: owner of A, member of B, removed from R, member of the suspended S; never in C.
    ``ann``: member of A and C. Each org has an audit row so counts start above zero."""
    org_a, people = factories.org_with_members(me="owner", ann="member")
    me, ann = people["me"], people["ann"]
    orgs = {"A": org_a}
    for label in ("B", "C", "R", "S"):
        orgs[label] = factories.OrgFactory()
    factories.MembershipFactory(org_id=orgs["B"].id, user_id=me.id, role="member")
    factories.MembershipFactory(org_id=orgs["C"].id, user_id=ann.id, role="owner")
    factories.MembershipFactory(org_id=orgs["S"].id, user_id=me.id, role="owner")
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=orgs["S"].id)
    factories.execute(
        "UPDATE users SET last_org_id = :o WHERE id IN (:me, :ann)",
        o=org_a.id,
        me=me.id,
        ann=ann.id,
    )
    for org in orgs.values():
        factories.execute(
            "INSERT INTO audit_events (org_id, actor, action) VALUES (:o, 'test', 'seed')", o=org.id
        )
    return me, ann, orgs


def snapshot(me, ann, orgs) -> dict:
    """Everything the switch may write, for both people and every org, as the superuser."""
    people = [me.id, ann.id]
    return {
        "sessions": factories.execute(
            "SELECT id, user_id, org_id, revoked_at, last_seen_at FROM user_sessions"
            " WHERE user_id = ANY(:p) ORDER BY id",
            p=people,
        ).all(),
        "audit": factories.execute(
            "SELECT org_id, count(*) FROM audit_events WHERE org_id = ANY(:o)"
            " GROUP BY org_id ORDER BY org_id",
            o=[o.id for o in orgs.values()],
        ).all(),
        "memberships": factories.execute(
            "SELECT org_id, user_id, last_active_at FROM memberships WHERE user_id = ANY(:p)"
            " ORDER BY org_id, user_id",
            p=people,
        ).all(),
        "last_org": factories.execute(
            "SELECT id, last_org_id FROM users WHERE id = ANY(:p) ORDER BY id", p=people
        ).all(),
    }


def call_switch(runtime_sessions, *, context_user, context_org, old, uid, org, audit_org):
    """The function called as the runtime role under (context_user, context_org): its answer,
    or "raised" when PostgreSQL refused it (the transaction then rolled back)."""
    try:
        with tenancy.scoped_session(
            runtime_sessions,
            tenancy.TenantContext(user_id=context_user.id, org_id=context_org.id),
        ) as session:
            return session.execute(
                SWITCH,
                {
                    "old": old,
                    "new": uuid.uuid4(),
                    "uid": uid,
                    "org": org.id,
                    "audit_org": audit_org.id,
                    "details": json.dumps({"to": str(org.id)}),
                },
            ).scalar_one()
    except DBAPIError:
        return "raised"


def test_a_legitimate_switch_does_write_so_the_refusals_below_mean_something(
    runtime_sessions, world
):
    me, ann, orgs = world
    old = open_session(me, orgs["A"])
    before = snapshot(me, ann, orgs)
    assert (
        call_switch(
            runtime_sessions,
            context_user=me,
            context_org=orgs["B"],
            old=old,
            uid=me.id,
            org=orgs["B"],
            audit_org=orgs["B"],
        )
        is True
    )
    after = snapshot(me, ann, orgs)
    assert after["sessions"] != before["sessions"] and after["audit"] != before["audit"]


def test_another_persons_session_is_neither_revoked_nor_rotated(runtime_sessions, world):
    """Guard: user_sessions' person policy (USING user_id = app.user_id) on the UPDATE."""
    me, ann, orgs = world
    anns = open_session(ann, orgs["A"])
    before = snapshot(me, ann, orgs)
    # Her session with her id; her session with mine; my context in an org we share.
    for uid in (ann.id, me.id):
        assert call_switch(
            runtime_sessions,
            context_user=me,
            context_org=orgs["A"],
            old=anns,
            uid=uid,
            org=orgs["A"],
            audit_org=orgs["A"],
        ) in (False, "raised")
        assert snapshot(me, ann, orgs) == before, uid


def test_my_session_cannot_be_rotated_into_another_persons_name(runtime_sessions, world):
    """Guards: the function's ``user_id = p_uid`` on the old row, and the person policy's
    WITH CHECK on the new one (a row for ann would be read by her as her own session); each
    alone refuses it (checked by removing one, then the other)."""
    me, ann, orgs = world
    mine = open_session(me, orgs["A"])
    before = snapshot(me, ann, orgs)
    assert call_switch(
        runtime_sessions,
        context_user=me,
        context_org=orgs["A"],
        old=mine,
        uid=ann.id,
        org=orgs["A"],
        audit_org=orgs["A"],
    ) in (False, "raised")
    assert snapshot(me, ann, orgs) == before


@pytest.mark.parametrize("label", ["C", "R", "S"], ids=["never-member", "removed", "suspended"])
def test_an_org_the_gate_refuses_opens_nothing(runtime_sessions, world, label):
    """The app binds the context to the target org: for an org I am not in (never, removed
    since, or suspended) the gate answers NULL, and the audit row's WITH CHECK fails the
    whole call. Guard: audit_events' tenant policy; without it the old session would be
    revoked and a new one opened in that org."""
    me, ann, orgs = world
    if label == "R":
        factories.MembershipFactory(org_id=orgs["R"].id, user_id=me.id, role="admin")
        factories.execute(
            "DELETE FROM memberships WHERE org_id = :o AND user_id = :u", o=orgs["R"].id, u=me.id
        )
    mine = open_session(me, orgs["A"])
    before = snapshot(me, ann, orgs)
    target = orgs[label]
    assert call_switch(
        runtime_sessions,
        context_user=me,
        context_org=target,
        old=mine,
        uid=me.id,
        org=target,
        audit_org=target,
    ) in (False, "raised")
    assert snapshot(me, ann, orgs) == before


def test_the_audit_row_cannot_be_written_into_another_orgs_log(runtime_sessions, world):
    """Context in B (mine), audit row aimed at C (ann's): refused by the function's own check
    (and, behind it, by the audit policy), and with it the whole switch."""
    me, ann, orgs = world
    mine = open_session(me, orgs["A"])
    before = snapshot(me, ann, orgs)
    assert (
        call_switch(
            runtime_sessions,
            context_user=me,
            context_org=orgs["B"],
            old=mine,
            uid=me.id,
            org=orgs["B"],
            audit_org=orgs["C"],
        )
        in (False, "raised")
    )
    assert snapshot(me, ann, orgs) == before


def test_a_revoked_session_opens_nothing(runtime_sessions, world):
    """Guard: ``revoked_at IS NULL`` on the old row (a stolen, signed-out token replayed)."""
    me, ann, orgs = world
    revoked = open_session(me, orgs["A"], revoked=True)
    before = snapshot(me, ann, orgs)
    assert (
        call_switch(
            runtime_sessions,
            context_user=me,
            context_org=orgs["B"],
            old=revoked,
            uid=me.id,
            org=orgs["B"],
            audit_org=orgs["B"],
        )
        is False
    )
    assert snapshot(me, ann, orgs) == before


def test_an_unknown_session_id_opens_nothing(runtime_sessions, world):
    me, ann, orgs = world
    before = snapshot(me, ann, orgs)
    assert (
        call_switch(
            runtime_sessions,
            context_user=me,
            context_org=orgs["B"],
            old=uuid.uuid4(),
            uid=me.id,
            org=orgs["B"],
            audit_org=orgs["B"],
        )
        is False
    )
    assert snapshot(me, ann, orgs) == before


def test_a_session_is_not_opened_for_an_org_other_than_the_contexts(runtime_sessions, world):
    me, ann, orgs = world
    mine = open_session(me, orgs["A"])
    before = snapshot(me, ann, orgs)
    call_switch(
        runtime_sessions,
        context_user=me,
        context_org=orgs["A"],
        old=mine,
        uid=me.id,
        org=orgs["C"],
        audit_org=orgs["A"],
    )
    assert snapshot(me, ann, orgs) == before


def test_a_session_opened_for_an_org_the_gate_refuses_grants_nothing(
    client, runtime_sessions, world
):
    """What keeps the gap above harmless: the session row names C, and a token for it is
    still refused there (the session check reads the membership under the gate)."""
    me, ann, orgs = world
    mine = open_session(me, orgs["A"])
    new_id = uuid.uuid4()
    with tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=me.id, org_id=orgs["A"].id)
    ) as session:
        session.execute(
            SWITCH,
            {
                "old": mine,
                "new": new_id,
                "uid": me.id,
                "org": orgs["C"].id,
                "audit_org": orgs["A"].id,
                "details": "{}",
            },
        )
    with client.session_transaction() as cookie:
        cookie.update(
            {
                "uid": str(me.id),
                "oid": str(orgs["C"].id),
                "role": "owner",
                "_user_id": str(new_id),
                "_fresh": True,
            }
        )
    answer = client.get(f"/o/{orgs['C'].slug}/whoami.json")
    assert answer.status_code in (302, 401, 403, 404)
    assert orgs["C"].name not in answer.get_data(as_text=True)  # the slug is echoed in links
    members = client.get(f"/o/{orgs['C'].slug}/members")
    assert ann.email not in members.get_data(as_text=True)


def test_an_idle_session_is_not_rotated_by_the_function(runtime_sessions, world):
    me, ann, orgs = world
    idle = open_session(me, orgs["A"], idle_days=400)
    before = snapshot(me, ann, orgs)
    call_switch(
        runtime_sessions,
        context_user=me,
        context_org=orgs["B"],
        old=idle,
        uid=me.id,
        org=orgs["B"],
        audit_org=orgs["B"],
    )
    assert snapshot(me, ann, orgs) == before


def test_an_idle_session_cannot_be_switched_through_http(client, world):
    """The function does not look at expiry (its contract: the caller's session check,
    which runs first, does). Through the app an idle session is refused before the switch:
    no new session row, no audit row."""
    from tests.helpers import csrf_token, login

    me, ann, orgs = world
    login(client, me)
    token = csrf_token(client, "/switcher")
    factories.execute(
        "UPDATE user_sessions SET last_seen_at = now() - interval '400 days'"
        " WHERE user_id = :u AND revoked_at IS NULL",
        u=me.id,
    )
    before = snapshot(me, ann, orgs)
    answer = client.post("/switch", data={"csrf_token": token, "slug": orgs["B"].slug})
    assert answer.status_code in (302, 303, 400, 401)
    after = snapshot(me, ann, orgs)
    assert {r.id for r in after["sessions"]} == {r.id for r in before["sessions"]}  # none new
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert all(
        r.last_seen_at < yesterday for r in after["sessions"] if r.revoked_at is None
    )  # the idle one not revived either
    assert after["audit"] == before["audit"]
    assert after["last_org"] == before["last_org"]


def _open_session_seen(user, org, seen_ago: str) -> uuid.UUID:
    return factories.execute(
        "INSERT INTO user_sessions (user_id, org_id, last_seen_at)"
        " VALUES (:u, :o, now() - CAST(:ago AS interval)) RETURNING id",
        u=user.id, o=org.id, ago=seen_ago,
    ).scalar_one()


@pytest.mark.parametrize("seen_ago, rotates", [
    ("29 days 23 hours 59 minutes", True),  # just inside the call's 30-day limit
    ("30 days 1 minute", False),  # just past it
])
def test_the_idle_limit_is_the_same_at_its_edge(runtime_sessions, world, seen_ago, rotates):
    """0050 writes the idle test ``(...) IS TRUE`` (for the plan, issue 20): the same verdict
    on either side of the limit, called as the runtime role; past it nothing changes."""
    me, ann, orgs = world
    # Other live sessions of the same person: the old one is found among them by its id.
    for _ in range(5):
        open_session(me, orgs["A"])
    old = _open_session_seen(me, orgs["A"], seen_ago)
    before = snapshot(me, ann, orgs)
    answer = call_switch(runtime_sessions, context_user=me, context_org=orgs["B"], old=old,
                         uid=me.id, org=orgs["B"], audit_org=orgs["B"])
    assert answer is rotates
    if rotates:
        revoked = factories.execute("SELECT revoked_at IS NOT NULL FROM user_sessions"
                                    " WHERE id = :s", s=old).scalar_one()
        assert revoked
    else:
        assert snapshot(me, ann, orgs) == before


def test_0050_changes_only_the_idle_test_of_the_switch_function(admin_engine):
    """The installed function is 0049's, but the one line 0050 rewrites (same verdict)."""
    from sqlalchemy import text as sql_text

    from dashboard.migrate import revision_module

    m50 = revision_module("0050_switch_session_key")
    m49 = revision_module("0049_switch_checks_caller")
    with admin_engine.connect() as conn:
        installed = conn.execute(sql_text(
            "SELECT prosrc FROM pg_proc WHERE proname = 'app_switch_session'")).scalars().all()
    assert len(installed) == 1  # one definition, no overload
    body = installed[0]
    assert m50.NEW_IDLE_TEST in body and m50.OLD_IDLE_TEST not in body
    assert body.replace(m50.NEW_IDLE_TEST, m50.OLD_IDLE_TEST) in m49.SWITCH
