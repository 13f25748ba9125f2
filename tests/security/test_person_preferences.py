"""A person's recent orgs and time zone (migration 0025): only through the narrow functions.

The recent list names orgs a co-member cannot otherwise see, so the runtime role cannot read
the column at all; ``app_recent_orgs`` gives the current person their own list only, and
``app_set_time_zone`` writes the current person's zone only, refusing unknown names.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from dashboard import people, tenancy
from tests import factories


def _as(runtime_sessions, user, org=None):
    return tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=user.id, org_id=org.id if org else None))


def test_recent_orgs_are_ones_own_and_not_a_readable_column(runtime_sessions):
    org_a, a = factories.org_with_members(owner="owner", colleague="member")
    org_b = factories.OrgFactory()
    factories.MembershipFactory(org_id=org_b.id, user_id=a["colleague"].id, role="member")
    with _as(runtime_sessions, a["colleague"], org_b) as db:
        people.set_last_org(db, org_b.id)
        db.commit()
    with _as(runtime_sessions, a["colleague"], org_a) as db:
        people.set_last_org(db, org_a.id)
        people.set_last_org(db, factories.OrgFactory().id)  # not a member: ignored
        db.commit()
        assert people.recent_orgs(db) == [org_a.id, org_b.id]
    with _as(runtime_sessions, a["owner"], org_a) as db:
        assert people.recent_orgs(db) == []  # the co-member's list is not theirs to see
        with pytest.raises(ProgrammingError, match="permission denied"):
            db.execute(text("SELECT recent_org_ids FROM users"))


def test_time_zone_is_set_for_oneself_and_unknown_names_are_refused(runtime_sessions):
    org, p = factories.org_with_members(owner="owner", member="member")
    with _as(runtime_sessions, p["member"], org) as db:
        people.set_time_zone(db, "Europe/Berlin")
        db.commit()
        zones = dict(db.execute(text("SELECT id, time_zone FROM users")).all())
        assert zones == {p["member"].id: "Europe/Berlin", p["owner"].id: None}
        with pytest.raises(DBAPIError, match="unknown time zone"):
            people.set_time_zone(db, "Mars/Olympus_Mons")
        db.rollback()
        with pytest.raises(ProgrammingError, match="permission denied"):
            db.execute(text("UPDATE users SET time_zone = 'UTC' WHERE id = :u"),
                       {"u": p["owner"].id})
