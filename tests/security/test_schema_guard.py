"""The schema itself is the first line of isolation: these guards read PostgreSQL's catalogue.

Every table is exactly one kind, listed in ``dashboard.table_kinds.TABLE_KINDS``: tenant (forced
RLS through the gate), person (forced RLS on the current person), catalogue (read-only, no
personal data) or system (no personal data readable). A table that is not listed is checked
as a tenant table and fails the listing test; no column the runtime role can read holds a
hash or secret. Adding a tenant table without forced RLS and four policies, a view without
security_invoker, a SECURITY DEFINER function owned by the wrong role, a cross-tenant unique
constraint or a single-column foreign key between tenant tables makes one of these fail.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from sqlalchemy import text

from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from dashboard.table_kinds import PERSON_TABLES, TABLE_KINDS, Kind, tables_of

# Unique across all tenants on purpose, each with its reason.
GLOBAL_UNIQUES = {
    ("organizations", "organizations_slug_key"): "slugs are the public URL namespace",
    ("sso_domains", "sso_domains_verified_key"): "a domain is verified by one org only",
    ("custom_domains", "custom_domains_verified_key"): "a host serves one org only",
}


def rows(admin_engine, sql, **params):
    with admin_engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def all_tables(admin_engine) -> set[str]:
    return {r[0] for r in rows(
        admin_engine,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    )}


def tenant_tables(admin_engine) -> list[str]:
    """Listed tenant tables, and any table not listed at all (it must then behave as one)."""
    return sorted(all_tables(admin_engine) - tables_of(Kind.PERSON, Kind.CATALOGUE, Kind.SYSTEM))


def test_there_are_tenant_tables(admin_engine):
    assert {"organizations", "memberships", "audit_events"} <= set(tenant_tables(admin_engine))


def rls_problems(admin_engine, tables) -> list:
    problems = []
    for table in tables:
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
    return problems


def test_every_tenant_table_forces_rls_with_a_policy_per_command(admin_engine):
    assert rls_problems(admin_engine, tenant_tables(admin_engine)) == []


def policy_offenders(admin_engine, tables, required: str) -> list:
    policies = rows(
        admin_engine,
        "SELECT tablename, policyname, qual, with_check"
        " FROM pg_policies WHERE schemaname = 'public'",
    )
    return [
        (table, name)
        for table, name, using, check in policies if table in tables
        for expression in (using, check)
        if expression is not None and required not in expression and expression != "false"
    ]


def test_every_tenant_policy_goes_through_the_gate(admin_engine):
    assert policy_offenders(admin_engine, set(tenant_tables(admin_engine)),
                            "app_current_org()") == []


def test_every_person_table_forces_rls_on_the_current_person(admin_engine):
    """Person-scoped tables: forced RLS, four policies, each on one's own rows only."""
    # users and user_sessions have policies of their own (co-members; one's own sessions),
    # checked by the people guard above; the rest are one's own rows only.
    for table in sorted(PERSON_TABLES - {"users", "user_sessions"}):
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


# ------------------------------------------------------------ table kinds, people and secrets

# Column names that say "personal data" (catalogue and system tables must not expose them)
# and "secret" (no table may let the runtime role read them), plus secrets named otherwise.
PERSONAL = re.compile(r"(^|_)(email|ip|user_agent|phone|password|address)($|_)")
SECRET = re.compile(r"hash|secret|password|private_key|token|verifier|nonce|otp|recovery")
SECRET_COLUMNS = {("provider_orgs", "response_ciphertext")}  # replays an initial API key
# Readable although the name says secret, each with its reason.
SEALED = {
    ("sso_connections", "client_secret"): "AES-GCM sealed; its key never enters the database",
    ("signing_keys", "private_key_enc"): "AES-GCM sealed; its key never enters the database",
    ("saml_sp_keys", "private_key_enc"): "sealed; its key never enters the database",
    ("mfa_totp", "secret_enc"): "Fernet-encrypted TOTP secret, its person's own row only;"
                                " its key never enters the database",
    # The audit hash chain: integrity digests of audit rows, verifiable by design, not secrets.
    ("audit_events", "prev_hash"): "audit chain digest (integrity), not a credential",
    ("audit_events", "row_hash"): "audit chain digest (integrity), not a credential",
    ("audit_chain_heads", "head_hash"): "audit chain digest (integrity), not a credential",
    ("audit_chain_heads", "prev_hash"): "audit chain digest (integrity), not a credential",
    ("audit_checkpoints", "head_hash"): "audit chain digest (integrity), not a credential",
    ("provider_orgs", "response_ciphertext"): "AES-GCM sealed; its key never enters the database",
    ("sso_domains", "token"): "published in the domain's DNS TXT record by design",
    ("custom_domains", "token"): "published in the domain's DNS TXT record by design",
    ("sso_login_requests", "code_verifier"):
        "PKCE verifier of a login in flight (minutes); useless without the IdP's one-time code",
    ("sso_login_requests", "nonce"): "OIDC nonce of a login in flight, matched once",
    ("provider_orgs", "request_hash"): "hash of a provisioning request body (idempotency)",
    ("event_destinations", "secret_sealed"): "sealed by secretbox; its key is not in the database",
    ("event_destinations", "previous_secret_sealed"):
        "sealed by secretbox; its key is not in the database",
    ("event_destinations", "previous_secret_until"): "a timestamp, not a secret",
}


def readable_columns(admin_engine) -> list[tuple[str, str]]:
    return [tuple(r) for r in rows(
        admin_engine,
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
        " AND a.attnum > 0 AND NOT a.attisdropped"
        " AND has_column_privilege(:r, c.oid, a.attnum, 'SELECT')", r=APP_ROLE,
    )]


def test_every_table_is_listed_with_its_kind(admin_engine):
    present = all_tables(admin_engine)
    assert sorted(present - set(TABLE_KINDS)) == [], "not listed in table_kinds.TABLE_KINDS"
    assert sorted(set(TABLE_KINDS) - present) == [], "listed but gone"


def test_person_tables_force_rls_on_the_current_person(admin_engine):
    person = tables_of(Kind.PERSON)
    assert {"users", "user_sessions"} <= person
    assert rls_problems(admin_engine, sorted(person)) == []
    assert policy_offenders(admin_engine, person, "app_current_user()") == []


def test_catalogue_tables_are_read_only_and_impersonal(admin_engine):
    catalogue = tables_of(Kind.CATALOGUE)
    writable = rows(
        admin_engine,
        "SELECT c.relname, p.p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,"
        " unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p(p)"
        " WHERE n.nspname = 'public' AND c.relname = ANY(:t)"
        " AND (has_table_privilege(:r, c.oid, p.p)"
        "      OR (p.p <> 'DELETE' AND has_any_column_privilege(:r, c.oid, p.p)))",
        t=sorted(catalogue), r=APP_ROLE,
    )
    assert writable == []
    personal = [(t, c) for t, c in readable_columns(admin_engine)
                if t in catalogue and PERSONAL.search(c)]
    assert personal == []


def test_system_tables_expose_no_personal_data(admin_engine):
    system = tables_of(Kind.SYSTEM)
    personal = [(t, c) for t, c in readable_columns(admin_engine)
                if t in system and PERSONAL.search(c)]
    assert personal == []


def test_no_readable_column_holds_a_hash_or_secret(admin_engine):
    exposed = [
        (table, column) for table, column in readable_columns(admin_engine)
        if (SECRET.search(column) or (table, column) in SECRET_COLUMNS)
        and (table, column) not in SEALED
    ]
    assert exposed == []
