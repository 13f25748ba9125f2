"""The schema guard, tier by tier: every tenant schema holds exactly the cell tables, each
with forced RLS, a policy per command through the same gate, the shared table's grants, and
keys that lead with org_id; every tenant table anywhere keeps org_id in its primary key,
unique constraints and foreign keys (what distributing the shared tier by org_id needs).
Every dedicated database a route names keeps the shared database's forced RLS, policies and
grants table by table, its own ticket gate, and no rows but its routed orgs' cell rows."""

from __future__ import annotations

import datetime
import os

import pytest
from sqlalchemy import create_engine, pool, text

from dashboard.table_kinds import PERSON_TABLES, Kind, tables_of
from dashboard.tiers import catalogue, dedicated, schema
from tests import factories
from tests import tiers as t
from tests.security.test_schema_guard import GLOBAL_UNIQUES

GATE = "app_current_org()"


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def tenant_schemas(engine) -> list[str]:
    return [r[0] for r in rows(engine, "SELECT nspname FROM pg_namespace"
                                       " WHERE nspname ~ '^tenant_[0-9a-f]{32}$' ORDER BY 1")]


def problems_in(engine, nsp: str) -> list[str]:
    found = []
    with engine.connect() as conn:
        cell = set(catalogue.layout(conn).cell)
    tables = {r[0]: r for r in rows(
        engine,
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')", s=nsp)}
    if set(tables) != cell:
        found.append(f"{nsp}: tables {sorted(tables)} are not the cell tables {sorted(cell)}")
    for name, (_, enabled, forced, owner) in tables.items():
        where = f"{nsp}.{name}"
        if not (enabled and forced):
            found.append(f"{where}: RLS enabled={enabled} forced={forced}")
        policies = rows(engine, "SELECT cmd, qual, with_check FROM pg_policies"
                                " WHERE schemaname = :s AND tablename = :t", s=nsp, t=name)
        commands = {p.cmd for p in policies}
        if "ALL" in commands:
            commands |= {"SELECT", "INSERT", "UPDATE", "DELETE"}
        if {"SELECT", "INSERT", "UPDATE", "DELETE"} - commands:
            found.append(f"{where}: policies only for {sorted(commands)}")
        for p in policies:
            for expression in (p.qual, p.with_check):
                if expression and GATE not in expression and expression != "false":
                    found.append(f"{where}: policy skips the gate: {expression}")
        want = rows(engine, "SELECT grantee, privilege_type FROM information_schema"
                            ".role_table_grants WHERE table_schema = 'public'"
                            " AND table_name = :t AND grantee = 'tenantdesk_app'", t=name)
        have = rows(engine, "SELECT grantee, privilege_type FROM information_schema"
                            ".role_table_grants WHERE table_schema = :s AND table_name = :t"
                            " AND grantee = 'tenantdesk_app'", s=nsp, t=name)
        if sorted(want) != sorted(have):
            found.append(f"{where}: app grants {sorted(have)} differ from public {sorted(want)}")
        if owner == "tenantdesk_app":
            found.append(f"{where}: owned by the runtime role")
    return found + key_problems(engine, nsp)


def key_problems(engine, nsp: str) -> list[str]:
    """Primary keys, unique indexes and foreign keys of tenant tables include org_id."""
    found = []
    for table, index, columns in rows(
        engine,
        """
        SELECT c.relname, i.relname,
               ARRAY(SELECT a.attname::text FROM unnest(x.indkey) k
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k)
          FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :s AND x.indisunique
           AND (n.nspname <> 'public' OR c.relforcerowsecurity)
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                        AND a.attname = 'org_id')
        """, s=nsp,
    ):
        if table in tables_of(Kind.PERSON):
            continue  # a person's sessions carry an org_id but are keyed by the person
        if "org_id" not in columns and (table, index) not in GLOBAL_UNIQUES:
            found.append(f"{nsp}.{table}: unique {index} {columns} without org_id")
    for name, src, dst, cols in rows(
        engine,
        """
        SELECT k.conname, src.relname, dst.relname,
               ARRAY(SELECT a.attname::text FROM unnest(k.conkey) c
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = c)
          FROM pg_constraint k JOIN pg_class src ON src.oid = k.conrelid
          JOIN pg_class dst ON dst.oid = k.confrelid
          JOIN pg_namespace n ON n.oid = src.relnamespace
         WHERE k.contype = 'f' AND n.nspname = :s
           AND (n.nspname <> 'public' OR src.relforcerowsecurity)
           AND dst.relname <> 'organizations'
           -- between tenant tables: the target has org_id (a person or catalogue row has not)
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = dst.oid
                        AND a.attname = 'org_id' AND NOT a.attisdropped)
        """, s=nsp,
    ):
        if "org_id" not in cols:
            found.append(f"{nsp}.{src}: foreign key {name} to {dst} on {cols} without org_id")
    return found


@pytest.fixture(scope="module")
def tiered_org(database_urls):
    org, _ = factories.org_with_members(owner="owner")
    t.move(database_urls, org, "schema")
    yield org
    t.move(database_urls, org, "shared")


def test_every_tenant_schema_is_guarded_like_public(admin_engine, tiered_org):
    schemas = tenant_schemas(admin_engine)
    assert catalogue.schema_name(tiered_org.id) in schemas
    found = [p for nsp in schemas for p in problems_in(admin_engine, nsp)]
    assert found == []


def test_every_tenant_schema_is_named_by_a_route_or_empty(admin_engine, tiered_org):
    """A purged org's schema is left empty until `tenantdesk migrate` drops it."""
    routed = {r[0] for r in rows(admin_engine, "SELECT schema_name FROM tenant_routes"
                                               " WHERE schema_name IS NOT NULL")}
    for nsp in set(tenant_schemas(admin_engine)) - routed:
        for (table,) in rows(admin_engine, "SELECT c.relname FROM pg_class c JOIN pg_namespace"
                             " n ON n.oid = c.relnamespace WHERE n.nspname = :s"
                             " AND c.relkind = 'r'", s=nsp):
            assert rows(admin_engine, f"SELECT count(*) FROM {nsp}.{table}")[0][0] == 0, nsp


def test_every_shared_tenant_key_includes_org_id(admin_engine):
    """Primary keys too (the foundation guard checks unique indexes and foreign keys between
    tenant tables): the shared tier can be distributed by org_id without a schema change."""
    offenders = []
    for table, columns in rows(
        admin_engine,
        """
        SELECT c.relname, ARRAY(SELECT a.attname::text FROM unnest(k.conkey) n
                               JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = n)
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE k.contype = 'p' AND s.nspname = 'public' AND c.relforcerowsecurity
        """,
    ):
        if table in tables_of(Kind.PERSON):
            continue  # people's rows are keyed by the person, not an org (their own guard)
        key = "id" if table == "organizations" else "org_id"
        if key not in columns and table not in PERSON_TABLES:  # person tables key by user_id
            offenders.append((table, columns))
    assert offenders == []
    assert key_problems(admin_engine, "public") == []


def test_the_tier_guard_bites(admin_engine, database_urls, tiered_org):
    """Break a throwaway tenant schema in each way; the guard names every break."""
    nsp = "tenant_" + "0" * 32
    with admin_engine.begin() as conn:
        conn.execute(text("SET LOCAL ROLE tenantdesk_owner"))
        schema.sync(conn, nsp)
    try:
        assert problems_in(admin_engine, nsp) == []
        table = catalogue.layout(admin_engine.connect()).cell[0]
        with admin_engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {nsp}.{table} NO FORCE ROW LEVEL SECURITY"))
            conn.execute(text(f"DROP POLICY {table}_delete ON {nsp}.{table}"))
            conn.execute(text(f"ALTER POLICY {table}_select ON {nsp}.{table} USING (true)"))
            conn.execute(text(f"GRANT TRUNCATE ON {nsp}.{table} TO tenantdesk_app"))
            conn.execute(text(f"CREATE TABLE {nsp}.stray (org_id uuid, id uuid UNIQUE)"))
        found = "\n".join(problems_in(admin_engine, nsp))
        for expected in ("forced=False", "policies only for", "skips the gate",
                         "app grants", "not the cell tables", "unique stray_id_key"):
            assert expected in found, expected
        with admin_engine.begin() as conn:  # a sync repairs all of it but the stray table's
            conn.execute(text("SET LOCAL ROLE tenantdesk_owner"))
            schema.sync(conn, nsp)
        assert problems_in(admin_engine, nsp) == []
    finally:
        with admin_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {nsp} CASCADE"))


# ------------------------------------------------------------------------ dedicated databases

_RLS = ("SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")
_POLICIES = ("SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check"
             " FROM pg_policies WHERE schemaname = 'public'")
_GRANTS = ("SELECT table_name, privilege_type FROM information_schema.role_table_grants"
           " WHERE table_schema = 'public' AND grantee = 'tenantdesk_app'")
_COLUMN_GRANTS = ("SELECT table_name, column_name, privilege_type"
                  " FROM information_schema.column_privileges WHERE table_schema = 'public'"
                  " AND grantee = 'tenantdesk_app'")
_FUNCTION_GRANTS = ("SELECT p.oid::regprocedure::text FROM pg_proc p"
                    " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
                    " AND has_function_privilege('tenantdesk_app', p.oid, 'EXECUTE')")


def _set(conn, sql) -> set[tuple]:
    return {tuple(r) for r in conn.execute(text(sql))}


def dedicated_problems(shared, conn, routed: set[str], where: str = "dedicated") -> list[str]:
    """What is wrong with the dedicated database on ``conn`` (a superuser's connection),
    compared with the shared one on ``shared``; ``routed`` are the org ids routed there."""
    found = []
    shared_rls = {r[0]: r[1:] for r in _set(shared, _RLS)}
    rls = {r[0]: r[1:] for r in _set(conn, _RLS)}
    for table, flags in sorted(shared_rls.items()):
        if flags == (True, True) and rls.get(table) != (True, True):
            found.append(f"{where}.{table}: RLS enabled/forced {rls.get(table)}, shared (True,"
                         " True)")
    for what, sql in (("policy", _POLICIES), ("app grant", _GRANTS),
                      ("app column grant", _COLUMN_GRANTS),
                      ("app may execute", _FUNCTION_GRANTS)):
        want, have = _set(shared, sql), _set(conn, sql)
        found += [f"{where}: {what} missing {r}" for r in sorted(want - have, key=str)]
        found += [f"{where}: {what} not in shared {r}" for r in sorted(have - want, key=str)]
    owned = conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = 'tenantdesk_app'"
        " UNION ALL SELECT p.proname FROM pg_proc p JOIN pg_namespace n"
        " ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        " AND pg_get_userbyid(p.proowner) = 'tenantdesk_app'")).scalars().all()
    found += [f"{where}.{name}: owned by the runtime role" for name in owned]
    gate = conn.execute(text(
        "SELECT prosrc, prosecdef, pg_get_userbyid(proowner) FROM pg_proc"
        " WHERE proname = 'app_current_org'")).one_or_none()
    if gate is None or "app.tier_ticket" not in gate[0] or not gate[1] or (
            gate[2] != "tenantdesk_definer"):
        found.append(f"{where}: app_current_org() is not the ticket gate")
    if conn.execute(text("SELECT has_table_privilege('tenantdesk_app', 'tier_gate_keys',"
                         " 'SELECT') OR has_function_privilege('tenantdesk_app',"
                         " 'app_tier_sign(text)', 'EXECUTE')")).scalar_one():
        found.append(f"{where}: the runtime role can read the gate's key or sign")
    # Rows: the routed orgs' cell rows, nothing else of a tenant or a person.
    cell = set(catalogue.layout(shared).cell)
    for table in sorted(tables_of(Kind.TENANT, Kind.PERSON) & set(rls)):
        if table in cell:
            strangers = conn.execute(text(
                f"SELECT DISTINCT org_id::text FROM public.{table}")).scalars().all()
            found += [f"{where}.{table}: rows of org {org}, not routed here"
                      for org in sorted(set(strangers) - routed)]
        elif conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM public.{table})")).scalar_one():
            found.append(f"{where}.{table}: holds control rows (they live in the shared"
                         " database)")
    return found


def dedicated_databases(shared) -> dict[str, set[str]]:
    """Every dedicated database a route names (its variable) -> the org ids routed there."""
    out: dict[str, set[str]] = {}
    for ref, org in shared.execute(text(
            "SELECT connection_ref, org_id::text FROM tenant_routes"
            " WHERE tier = 'dedicated'")):
        out.setdefault(ref, set()).add(org)
    return out


def superuser_engine(ref: str):
    """A superuser on the dedicated database (the guard sees through RLS); the tests' own
    (``<REF>_ADMIN``), else the URL the owner would use."""
    url = os.environ.get(ref + "_ADMIN") or dedicated.owner_url(ref)
    return create_engine(url, poolclass=pool.NullPool)


@pytest.fixture(scope="module")
def dedicated_org(database_urls):
    org, _ = factories.org_with_members(owner="owner")
    factories.usage_daily(org, "api_calls", datetime.date.today(), 3)
    t.move(database_urls, org, "dedicated")
    yield org
    t.move(database_urls, org, "shared")


def test_every_dedicated_database_is_guarded_like_the_shared_one(admin_engine, dedicated_org):
    with admin_engine.connect() as shared:
        databases = dedicated_databases(shared)
        assert str(dedicated_org.id) in databases.get(t.DEDICATED_REF, set())
        found = []
        for ref, routed in sorted(databases.items()):
            engine = superuser_engine(ref)
            try:
                with engine.connect() as conn:
                    found += dedicated_problems(shared, conn, routed, where=ref)
            finally:
                engine.dispose()
    assert found == []


def test_the_dedicated_guard_bites(admin_engine, dedicated_org):
    """Break the dedicated database in each way inside one transaction (rolled back); the
    guard names every break."""
    engine = superuser_engine(t.DEDICATED_REF)
    try:
        with admin_engine.connect() as shared, engine.connect() as conn:
            routed = dedicated_databases(shared)[t.DEDICATED_REF]
            assert dedicated_problems(shared, conn, routed) == []
            table = catalogue.layout(shared).cell[0]
            policy = conn.execute(text("SELECT policyname FROM pg_policies WHERE tablename = :t"
                                       " AND cmd = 'DELETE'"), {"t": table}).scalar_one()
            for statement in (
                f"ALTER TABLE public.{table} NO FORCE ROW LEVEL SECURITY",
                f"DROP POLICY {policy} ON public.{table}",
                f"GRANT TRUNCATE ON public.{table} TO tenantdesk_app",
                "GRANT SELECT ON tier_gate_keys TO tenantdesk_app",
                "CREATE OR REPLACE FUNCTION app_current_org() RETURNS uuid LANGUAGE sql"
                " STABLE AS $$ SELECT app_uuid(current_setting('app.org_id', true)) $$",
                "INSERT INTO organizations (id, slug, name)"
                " VALUES (gen_random_uuid(), 'stray-control-row', 'Stray')",
            ):
                conn.execute(text(statement))
            # ... and the org's own cell rows, as if it were not routed here.
            found = "\n".join(dedicated_problems(shared, conn, routed - {
                str(dedicated_org.id)}))
            conn.rollback()
        for expected in (f"{table}: RLS enabled/forced (True, False)",
                         f"policy missing ('{table}', '{policy}'",
                         f"app grant not in shared ('{table}', 'TRUNCATE')",
                         "can read the gate's key", "is not the ticket gate",
                         "organizations: holds control rows",
                         f"rows of org {dedicated_org.id}, not routed here"):
            assert expected in found, (expected, found)
    finally:
        engine.dispose()
