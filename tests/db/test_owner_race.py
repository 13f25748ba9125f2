"""Two owners demoting each other at the same moment: one wins, the org keeps an owner.

The service locks the org's owner rows (FOR UPDATE) before counting them, so the second
transaction waits for the first and then sees the first one's demotion. Without the lock both
would read "two owners" in their snapshots and both succeed.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from dashboard import tenancy
from dashboard.audit.service import Actor
from dashboard.members import roles as role_rules
from dashboard.members import service
from dashboard.permissions import permissions_for
from tests import factories


def as_owner(runtime_sessions, user, org):
    return tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=user.id, org_id=org.id))


def demote(session, org, editor_user, target_user):
    service.change_role(
        session, org_id=org.id,
        editor=role_rules.Editor(editor_user.id, "owner", permissions_for("owner")),
        roles=role_rules.catalogue(session), user_id=target_user.id, new_role="admin",
        actor=Actor(label=editor_user.email, user_id=editor_user.id),
    )


def wait_for_lock_wait(admin_engine, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with admin_engine.connect() as conn:
            waiting = conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        if waiting:
            return
        time.sleep(0.02)  # polling the server's own state, not guessing a delay
    raise AssertionError("the second demotion never waited for the first one's lock")


def test_concurrent_mutual_demotion_leaves_one_owner(runtime_sessions, admin_engine):
    org, people = factories.org_with_members(ada="owner", bea="owner")
    ada, bea = people["ada"], people["bea"]
    outcome = {}

    with as_owner(runtime_sessions, ada, org) as first:
        demote(first, org, ada, bea)  # holds the owner rows' locks until commit

        def second():
            try:
                with as_owner(runtime_sessions, bea, org) as session:
                    demote(session, org, bea, ada)
                outcome["result"] = "demoted"
            except service.MemberError as exc:
                outcome["result"] = exc.status

        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_wait(admin_engine)
    thread.join(timeout=30)  # the first transaction committed on leaving the block
    assert not thread.is_alive()
    assert outcome["result"] == 409
    owners = factories.execute(
        "SELECT user_id FROM memberships WHERE org_id = :o AND role = 'owner'", o=org.id
    ).scalars().all()
    assert owners == [ada.id]


@pytest.mark.parametrize("how", ["remove", "leave"])
def test_the_last_owner_cannot_be_removed_or_leave_through_the_service(runtime_sessions, how):
    org, people = factories.org_with_members(ada="owner", bob="member")
    ada = people["ada"]
    with pytest.raises(service.MemberError) as refused, as_owner(
            runtime_sessions, ada, org) as session:
        if how == "leave":
            service.leave(session, org_id=org.id, user_id=ada.id, actor=Actor(label="t"))
        else:  # even an editor who is not themselves (an almighty custom role) cannot
            service.remove_member(
                session, org_id=org.id,
                editor=role_rules.Editor(people["bob"].id, "owner", permissions_for("owner")),
                roles=role_rules.catalogue(session), user_id=ada.id, actor=Actor(label="t"))
    assert refused.value.status == 409
    assert factories.execute("SELECT role FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=org.id, u=ada.id).scalar() == "owner"
