"""The schema guard must fail when someone breaks the rules: each case here adds a throwaway
object that breaks one rule, runs the guard against the real catalogue, and expects it to
fail (then drops the object, whatever happened).
"""

from __future__ import annotations

import secrets
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from tests.security import test_schema_guard as guard


@contextmanager
def scratch(admin_engine, create: str, drop: str):
    name = f"guard_probe_{secrets.token_hex(3)}"
    with admin_engine.begin() as conn:
        for statement in create.format(t=name).split(";"):
            conn.execute(text(statement))
    try:
        yield name
    finally:
        with admin_engine.begin() as conn:
            for statement in drop.format(t=name).split(";"):
                conn.execute(text(statement))


TABLE = "CREATE TABLE {t} (org_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (org_id, id))"
DROP_TABLE = "DROP TABLE IF EXISTS {t} CASCADE"
FOUR_POLICIES = (
    "; ALTER TABLE {t} ENABLE ROW LEVEL SECURITY; ALTER TABLE {t} FORCE ROW LEVEL SECURITY"
    "; CREATE POLICY {t}_s ON {t} FOR SELECT USING (org_id = (SELECT app_current_org()))"
    "; CREATE POLICY {t}_i ON {t} FOR INSERT WITH CHECK (org_id = (SELECT app_current_org()))"
    "; CREATE POLICY {t}_u ON {t} FOR UPDATE USING (org_id = (SELECT app_current_org()))"
    "; CREATE POLICY {t}_d ON {t} FOR DELETE USING (org_id = (SELECT app_current_org()))"
)

BREAKAGES = {
    "tenant table without RLS or policies": (
        TABLE, DROP_TABLE, guard.test_every_tenant_table_forces_rls_with_a_policy_per_command),
    "RLS enabled but not forced": (
        TABLE + "; ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"
        "; CREATE POLICY {t}_all ON {t} USING (org_id = (SELECT app_current_org()))",
        DROP_TABLE, guard.test_every_tenant_table_forces_rls_with_a_policy_per_command),
    "a SELECT policy only": (
        TABLE + "; ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"
        "; ALTER TABLE {t} FORCE ROW LEVEL SECURITY"
        "; CREATE POLICY {t}_s ON {t} FOR SELECT USING (org_id = (SELECT app_current_org()))",
        DROP_TABLE, guard.test_every_tenant_table_forces_rls_with_a_policy_per_command),
    "a policy that skips the gate": (
        TABLE + FOUR_POLICIES + "; CREATE POLICY {t}_open ON {t} FOR SELECT USING (true)",
        DROP_TABLE, guard.test_every_tenant_policy_goes_through_the_gate),
    "a cross-tenant unique constraint": (
        TABLE + FOUR_POLICIES + "; ALTER TABLE {t} ADD COLUMN email text UNIQUE",
        DROP_TABLE, guard.test_unique_constraints_on_tenant_tables_are_per_org),
    "a single-column foreign key between tenant tables": (
        "CREATE TABLE {t}_other (org_id uuid NOT NULL, id uuid NOT NULL UNIQUE,"
        " PRIMARY KEY (org_id, id)); "
        + TABLE + FOUR_POLICIES + "; ALTER TABLE {t} ADD COLUMN role_id uuid"
        "; ALTER TABLE {t} ADD CONSTRAINT {t}_fk FOREIGN KEY (role_id) REFERENCES {t}_other (id)",
        DROP_TABLE + "; DROP TABLE IF EXISTS {t}_other CASCADE",
        guard.test_foreign_keys_between_tenant_tables_are_composite),
    "a view without security_invoker": (
        "CREATE VIEW {t} AS SELECT org_id, user_id FROM memberships",
        "DROP VIEW IF EXISTS {t}",
        guard.test_views_are_security_invoker_and_no_matview_is_readable),
    "a table the runtime role owns": (
        TABLE + FOUR_POLICIES + "; ALTER TABLE {t} OWNER TO tenantdesk_app",
        DROP_TABLE, guard.test_runtime_role_is_powerless),
    "TRUNCATE granted to the runtime role": (
        TABLE + FOUR_POLICIES + "; GRANT TRUNCATE ON {t} TO tenantdesk_app",
        DROP_TABLE,
        lambda engine: guard.test_runtime_role_has_no_dangerous_table_privilege(
            engine, "TRUNCATE")),
    "a SECURITY DEFINER function owned by a superuser, returning whole rows": (
        "CREATE FUNCTION {t}() RETURNS SETOF memberships LANGUAGE sql SECURITY DEFINER"
        " AS 'SELECT * FROM memberships'",
        "DROP FUNCTION IF EXISTS {t}()", guard.test_security_definer_functions_are_narrow),
    # Table kinds, people and secrets.
    "a perfect tenant table that table_kinds.TABLE_KINDS does not list": (
        TABLE + FOUR_POLICIES, DROP_TABLE, guard.test_every_table_is_listed_with_its_kind),
    "a readable password hash in a new table": (
        TABLE + FOUR_POLICIES + "; ALTER TABLE {t} ADD COLUMN password_hash text"
        "; GRANT SELECT ON {t} TO tenantdesk_app",
        DROP_TABLE, guard.test_no_readable_column_holds_a_hash_or_secret),
    "users.password_hash readable again": (
        "GRANT SELECT (password_hash) ON users TO tenantdesk_app",
        "REVOKE SELECT (password_hash) ON users FROM tenantdesk_app",
        guard.test_no_readable_column_holds_a_hash_or_secret),
    "a readable MFA secret added to users": (
        "ALTER TABLE users ADD COLUMN {t}_totp_secret text"
        "; GRANT SELECT ({t}_totp_secret) ON users TO tenantdesk_app",
        "ALTER TABLE users DROP COLUMN IF EXISTS {t}_totp_secret",
        guard.test_no_readable_column_holds_a_hash_or_secret),
    "a person-scoped policy that ignores the person": (
        "CREATE POLICY {t} ON user_sessions FOR SELECT USING (true)",
        "DROP POLICY IF EXISTS {t} ON user_sessions",
        guard.test_person_tables_force_rls_on_the_current_person),
    "a catalogue table the runtime role may write": (
        "GRANT UPDATE (name) ON plans TO tenantdesk_app",
        "REVOKE UPDATE (name) ON plans FROM tenantdesk_app",
        guard.test_catalogue_tables_are_read_only_and_impersonal),
    "personal data in the catalogue": (
        "ALTER TABLE features ADD COLUMN {t}_email text",
        "ALTER TABLE features DROP COLUMN IF EXISTS {t}_email",
        guard.test_catalogue_tables_are_read_only_and_impersonal),
    "personal data readable in a system table": (
        "GRANT SELECT (ip) ON login_attempts TO tenantdesk_app",
        "REVOKE SELECT (ip) ON login_attempts FROM tenantdesk_app",
        guard.test_system_tables_expose_no_personal_data),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_guard_fails_on(admin_engine, breakage):
    create, drop, check = BREAKAGES[breakage]
    check(admin_engine)  # green before
    with scratch(admin_engine, create, drop), pytest.raises(AssertionError):
        check(admin_engine)
    check(admin_engine)  # and green again once the object is gone


def test_the_guard_fails_on_a_table_in_another_schema(admin_engine):
    guard.test_every_table_lives_in_the_guarded_schema(admin_engine)
    with scratch(admin_engine, "CREATE SCHEMA {t}; " + TABLE.replace("{t}", "{t}.t"),
                 "DROP SCHEMA IF EXISTS {t} CASCADE"), pytest.raises(AssertionError):
        guard.test_every_table_lives_in_the_guarded_schema(admin_engine)
