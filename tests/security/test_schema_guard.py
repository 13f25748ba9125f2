"""The schema itself is the first line of isolation: these guards read PostgreSQL's catalogue.

Adding a tenant table without forced RLS and four policies, a view without security_invoker,
a SECURITY DEFINER function owned by the wrong role, a cross-tenant unique constraint or a
single-column foreign key between tenant tables makes one of these fail.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from dashboard.tenancy import GLOBAL_TABLES, PERSON_TABLES

# Unique across all tenants on purpose, each with its reason.
GLOBAL_UNIQUES = {
    ("organizations", "organizations_slug_key"): "slugs are the public URL namespace",
    ("sso_domains", "sso_domains_verified_key"): "a domain is verified by one org only",
}


def rows(admin_engine, sql, **params):
    with admin_engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def tenant_tables(admin_engine) -> list[str]:
    names = [r[0] for r in rows(
        admin_engine,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    )]
    return sorted(set(names) - GLOBAL_TABLES - PERSON_TABLES)


def test_there_are_tenant_tables(admin_engine):
    assert {"organizations", "memberships", "audit_events"} <= set(tenant_tables(admin_engine))


def test_every_tenant_table_forces_rls_with_a_policy_per_command(admin_engine):
    problems = []
    for table in tenant_tables(admin_engine):
        enabled, forced = rows(
            admin_engine,
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE oid = ('public.' || :t)::regclass", t=table,
        )[0]
        commands = {r[0] for r in rows(
            admin_engine, "SELECT cmd FROM pg_policies WHERE schemaname = 'public'"
            " AND tablename = :t", t=table)}
        if "ALL" in commands:
            commands |= {"SELECT", "INSERT", "UPDATE", "DELETE"}
        missing = {"SELECT", "INSERT", "UPDATE", "DELETE"} - commands
        if not (enabled and forced) or missing:
            problems.append((table, enabled, forced, sorted(missing)))
    assert problems == []


def test_every_tenant_policy_goes_through_the_gate(admin_engine):
    policies = rows(
        admin_engine,
        "SELECT tablename, policyname, qual, with_check"
        " FROM pg_policies WHERE schemaname = 'public'",
    )
    for table, name, using, check in policies:
        if table in PERSON_TABLES:
            continue  # checked below: the current person, not the org gate
        for expression in (using, check):
            if expression is not None:
                assert "app_current_org()" in expression or expression == "false", (table, name)


def test_every_person_table_forces_rls_on_the_current_person(admin_engine):
    """Person-scoped tables: forced RLS, four policies, each on one's own rows only."""
    for table in sorted(PERSON_TABLES):
        (enabled, forced), = rows(
            admin_engine,
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE oid = ('public.' || :t)::regclass", t=table,
        )
        assert enabled and forced, table
        policies = rows(
            admin_engine,
            "SELECT cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public'"
            " AND tablename = :t", t=table,
        )
        assert {cmd for cmd, _, _ in policies} == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
        for _, using, check in policies:
            for expression in (using, check):
                if expression is not None:
                    own = "user_id = ( SELECT app_current_user()"
                    assert own in expression, (table, expression)


def test_runtime_role_is_powerless(admin_engine):
    (superuser, bypass, createrole, createdb), = rows(
        admin_engine,
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = :r", r=APP_ROLE,
    )
    assert not (superuser or bypass or createrole or createdb)
    owned = rows(
        admin_engine,
        "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND r.rolname = :r", r=APP_ROLE,
    )
    assert owned == []
    # A member of another role can SET ROLE to it or act with its ownership.
    memberships = rows(
        admin_engine,
        "SELECT b.rolname FROM pg_roles b, pg_roles a WHERE a.rolname = :r"
        " AND b.oid <> a.oid AND pg_has_role(a.oid, b.oid, 'MEMBER')", r=APP_ROLE,
    )
    assert memberships == []


@pytest.mark.parametrize("privilege", ["TRUNCATE", "TRIGGER", "REFERENCES"])
def test_runtime_role_has_no_dangerous_table_privilege(admin_engine, privilege):
    granted = rows(
        admin_engine,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
        " AND has_table_privilege(:r, c.oid, :p)", r=APP_ROLE, p=privilege,
    )
    assert granted == []


def test_audit_log_is_insert_and_select_only(admin_engine):
    for privilege, expected in [("SELECT", True), ("INSERT", True),
                                ("UPDATE", False), ("DELETE", False)]:
        (has,), = rows(admin_engine, "SELECT has_table_privilege(:r, 'audit_events', :p)",
                       r=APP_ROLE, p=privilege)
        assert has is expected, privilege


def test_views_are_security_invoker_and_no_matview_is_readable(admin_engine):
    views = rows(
        admin_engine,
        "SELECT c.relname, coalesce(c.reloptions::text, '') FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'v'",
    )
    assert [v for v, options in views if "security_invoker=true" not in options] == []
    readable_matviews = rows(
        admin_engine,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'm'"
        " AND has_table_privilege(:r, c.oid, 'SELECT')", r=APP_ROLE,
    )
    assert readable_matviews == []


def test_security_definer_functions_are_narrow(admin_engine):
    functions = rows(
        admin_engine,
        """
        SELECT p.oid::regprocedure::text, r.rolname, r.rolsuper, r.rolcanlogin,
               coalesce(array_to_string(p.proconfig, ','), ''),
               t.typrelid <> 0 AND EXISTS (
                   SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind IN ('r','p')),
               coalesce(array_length(p.proallargtypes, 1), 0)
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
          JOIN pg_roles r ON r.oid = p.proowner
          JOIN pg_type t ON t.oid = p.prorettype
         WHERE n.nspname = 'public' AND p.prosecdef
        """,
    )
    assert functions, "the gate itself is SECURITY DEFINER"
    for name, owner, superuser, login, config, returns_table_row, n_args in functions:
        assert owner == DEFINER_ROLE, name
        assert not superuser and not login, name
        assert "search_path=" in config, name
        assert not returns_table_row, f"{name} returns whole rows of a table"
        assert n_args <= 10, f"{name} returns too many columns"


def test_unique_constraints_on_tenant_tables_are_per_org(admin_engine):
    offenders = []
    for table in tenant_tables(admin_engine):
        key_column = "id" if table == "organizations" else "org_id"
        indexes = rows(
            admin_engine,
            """
            SELECT i.relname,
                   ARRAY(SELECT a.attname FROM unnest(x.indkey) k
                         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k)
              FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             WHERE x.indrelid = ('public.' || :t)::regclass AND x.indisunique
            """, t=table,
        )
        for index, columns in indexes:
            if key_column not in columns and (table, index) not in GLOBAL_UNIQUES:
                offenders.append((table, index, columns))
    assert offenders == []


def test_foreign_keys_between_tenant_tables_are_composite(admin_engine):
    tenant = set(tenant_tables(admin_engine))
    keys = rows(
        admin_engine,
        """
        SELECT c.conname, src.relname, dst.relname,
               ARRAY(SELECT a.attname FROM unnest(c.conkey) k
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k)
          FROM pg_constraint c
          JOIN pg_class src ON src.oid = c.conrelid
          JOIN pg_class dst ON dst.oid = c.confrelid
          JOIN pg_namespace n ON n.oid = src.relnamespace
         WHERE c.contype = 'f' AND n.nspname = 'public'
        """,
    )
    offenders = [
        (name, src, dst, cols)
        for name, src, dst, cols in keys
        if src in tenant and dst in tenant and dst != "organizations" and "org_id" not in cols
    ]
    assert offenders == []


def test_runtime_role_cannot_switch_row_security_off(database_urls):
    from dashboard.provisioning import libpq_url

    with psycopg.connect(libpq_url(database_urls.runtime)) as conn:
        conn.execute("SET row_security = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM memberships").fetchone()


def test_every_table_lives_in_the_guarded_schema(admin_engine):
    """The guards above read schema public; a table elsewhere would escape them all.

    Tenant schemas of the schema tier (``tenant_<org id>``, named in ``tenant_routes``) are
    guarded table by table in test_schema_guard_tiers.py."""
    elsewhere = rows(
        admin_engine,
        "SELECT n.nspname || '.' || c.relname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> 'public'"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg\\_%'"
        " AND NOT (n.nspname ~ '^tenant_[0-9a-f]{32}$' AND c.relkind IN ('r', 'p'))",
    )
    assert elsewhere == []
