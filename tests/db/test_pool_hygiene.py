"""A pooled connection never carries a tenant into the next transaction."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from dashboard import tenancy
from tests import factories


def test_one_connection_alternating_between_orgs_never_leaks(database_urls):
    org_a, people_a = factories.org_with_members(owner="owner", x="member", y="member")
    org_b, people_b = factories.org_with_members(owner="owner")
    engine = create_engine(database_urls.runtime, pool_size=1, max_overflow=0)
    factory = sessionmaker(engine)
    try:
        backend_pids = set()
        for i in range(200):
            org, user, expected = (
                (org_a, people_a["owner"], 3) if i % 2 == 0 else (org_b, people_b["owner"], 1)
            )
            context = tenancy.TenantContext(user_id=user.id, org_id=org.id)
            with tenancy.scoped_session(factory, context) as session:
                backend_pids.add(session.scalar(text("SELECT pg_backend_pid()")))
                org_ids = set(session.scalars(text("SELECT org_id FROM memberships")))
                assert org_ids == {org.id}
                assert session.scalar(text("SELECT count(*) FROM memberships")) == expected
            # The very next transaction on the same connection, with no context, sees nothing.
            with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
                assert session.scalar(text("SELECT count(*) FROM memberships")) == 0
                assert session.scalar(
                    text("SELECT coalesce(current_setting('app.org_id', true), '')")
                ) == ""
        assert len(backend_pids) == 1, "the test must reuse one connection"
    finally:
        engine.dispose()


def test_a_failed_transaction_does_not_leave_its_context_behind(database_urls):
    org_a, people_a = factories.org_with_members(owner="owner")
    engine = create_engine(database_urls.runtime, pool_size=1, max_overflow=0)
    factory = sessionmaker(engine)
    try:
        context = tenancy.TenantContext(user_id=people_a["owner"].id, org_id=org_a.id)
        try:
            with tenancy.scoped_session(factory, context) as session:
                session.execute(text("SELECT count(*) FROM memberships"))
                session.execute(text("SELECT 1/0"))
        except Exception:  # noqa: S110 - the failure is the point
            pass
        with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
            assert session.scalar(text("SELECT count(*) FROM memberships")) == 0
    finally:
        engine.dispose()
