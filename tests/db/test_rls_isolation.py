"""Try to break tenant isolation directly in the database, as the runtime role."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from tests import factories
from tests.security.test_schema_guard import tenant_tables


@pytest.fixture
def two_orgs():
    org_a, people_a = factories.org_with_members(owner="owner", bob="member")
    org_b, people_b = factories.org_with_members(owner="owner", carol="admin")
    for org, _people in ((org_a, people_a), (org_b, people_b)):
        factories.execute(
            "INSERT INTO roles (org_id, key, name, permissions)"
            " VALUES (:o, 'auditor', 'Auditor', '{audit.view}')", o=org.id)
        factories.execute(
            "INSERT INTO audit_events (org_id, actor, action) VALUES (:o, 'test', 'seed')",
            o=org.id)
        factories.execute(
            "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash)"
            " VALUES (:o, 'api_key', 'k', :p, '\\x00')", o=org.id, p=uuid.uuid4().hex[:12])
    return (org_a, people_a), (org_b, people_b)


def as_member(runtime_sessions, user, org):
    return tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=user.id, org_id=org.id)
    )


def org_column(table):
    return "id" if table == "organizations" else "org_id"


def test_a_member_sees_only_their_org_in_every_tenant_table(
    two_orgs, runtime_sessions, admin_engine
):
    (org_a, people_a), (org_b, _) = two_orgs
    with as_member(runtime_sessions, people_a["bob"], org_a) as session:
        for table in tenant_tables(admin_engine):
            column = org_column(table)
            foreign = session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE {column} <> :a"), {"a": org_a.id}
            )
            assert foreign == 0, table
        mine = session.scalar(text("SELECT count(*) FROM memberships"))
        assert mine == 2


def test_updates_and_deletes_of_another_org_touch_nothing(two_orgs, runtime_sessions):
    (org_a, people_a), (org_b, _) = two_orgs
    with as_member(runtime_sessions, people_a["owner"], org_a) as session:
        assert session.execute(
            text("UPDATE memberships SET role = 'owner' WHERE org_id = :b"), {"b": org_b.id}
        ).rowcount == 0
        assert session.execute(
            text("DELETE FROM memberships WHERE org_id = :b"), {"b": org_b.id}
        ).rowcount == 0
        assert session.execute(
            text("UPDATE roles SET name = 'x' WHERE org_id = :b"), {"b": org_b.id}
        ).rowcount == 0
        assert session.execute(
            text("DELETE FROM roles WHERE org_id = :b"), {"b": org_b.id}
        ).rowcount == 0
        assert session.execute(
            text("UPDATE organizations SET name = 'pwned' WHERE id = :b"), {"b": org_b.id}
        ).rowcount == 0
        assert session.execute(
            text("UPDATE org_credentials SET revoked_at = now() WHERE org_id = :b"),
            {"b": org_b.id},
        ).rowcount == 0


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO memberships (org_id, user_id, role) VALUES (:b, :u, 'owner')",
        "INSERT INTO roles (org_id, key, name) VALUES (:b, 'evil', 'Evil')",
        "INSERT INTO audit_events (org_id, actor, action) VALUES (:b, 'x', 'forged')",
        "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash)"
        " VALUES (:b, 'api_key', 'k', 'abcdefgh12', '\\x00')",
    ],
)
def test_inserting_into_another_org_is_refused(two_orgs, runtime_sessions, statement):
    (org_a, people_a), (org_b, _) = two_orgs
    with (
        pytest.raises(DBAPIError, match="row-level security"),
        as_member(runtime_sessions, people_a["owner"], org_a) as session,
    ):
        session.execute(text(statement), {"b": org_b.id, "u": people_a["owner"].id})


def test_moving_a_row_to_another_org_is_refused(two_orgs, runtime_sessions):
    (org_a, people_a), (org_b, _) = two_orgs
    with (
        pytest.raises(DBAPIError, match="row-level security"),
        as_member(runtime_sessions, people_a["owner"], org_a) as session,
    ):
        session.execute(text("UPDATE roles SET org_id = :b"), {"b": org_b.id})


def test_no_context_reads_zero_rows_everywhere(two_orgs, runtime_sessions, admin_engine):
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        for table in tenant_tables(admin_engine):
            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


@pytest.mark.parametrize(
    "hostile", ["'; RESET ROLE;--", "", "not-a-uuid", "00000000-0000-0000-0000-000000000000",
                "' OR 1=1 --", "NULL"],
)
def test_hostile_context_values_give_zero_rows_not_errors(
    two_orgs, runtime_sessions, hostile
):
    (org_a, people_a), _ = two_orgs
    for context in (
        tenancy.TenantContext(user_id=hostile, org_id=org_a.id),
        tenancy.TenantContext(user_id=people_a["owner"].id, org_id=hostile),
    ):
        with tenancy.scoped_session(runtime_sessions, context) as session:
            assert session.scalar(text("SELECT count(*) FROM memberships")) == 0
            assert session.scalar(text("SELECT current_user")) == "tenantdesk_app"


def test_a_user_outside_the_org_reads_nothing_even_with_its_id(two_orgs, runtime_sessions):
    (org_a, people_a), (org_b, _) = two_orgs
    with as_member(runtime_sessions, people_a["bob"], org_b) as session:
        assert session.scalar(text("SELECT count(*) FROM memberships")) == 0
        assert session.scalar(text("SELECT count(*) FROM organizations")) == 0


def test_removal_and_suspension_cut_access_on_the_next_query(two_orgs, runtime_sessions):
    (org_a, people_a), _ = two_orgs
    session = runtime_sessions()
    session.info["tenant_context"] = tenancy.TenantContext(
        user_id=people_a["bob"].id, org_id=org_a.id
    )
    try:
        assert session.scalar(text("SELECT count(*) FROM memberships")) == 2
        session.commit()
        factories.execute(
            "DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
            o=org_a.id, u=people_a["bob"].id,
        )
        assert session.scalar(text("SELECT count(*) FROM memberships")) == 0
        session.commit()
        session.info["tenant_context"] = tenancy.TenantContext(
            user_id=people_a["owner"].id, org_id=org_a.id
        )
        assert session.scalar(text("SELECT count(*) FROM memberships")) == 1
        session.commit()
        factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o",
                          o=org_a.id)
        assert session.scalar(text("SELECT count(*) FROM memberships")) == 0
        assert session.scalar(text("SELECT count(*) FROM organizations")) == 0
    finally:
        session.close()


def test_composite_foreign_keys_stop_cross_tenant_references(two_orgs, admin_engine):
    """Plain FK checks bypass RLS; composite (org_id, ...) keys make the reference impossible."""
    from tests.security.test_schema_guard import rows

    keys = rows(
        admin_engine,
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = 'public'::regnamespace",
    )
    tenant = set(tenant_tables(admin_engine))
    for table, definition in keys:
        target = definition.split("REFERENCES ")[1].split("(")[0]
        if table in tenant and target in tenant and target != "organizations":
            assert definition.startswith("FOREIGN KEY (org_id,"), (table, definition)
