"""SQL snippets every migration uses to put a tenant table under the RLS gate.

Kept in one place so each new table gets exactly the same four policies and grants.
"""

from __future__ import annotations

from dashboard.provisioning import APP_ROLE

GATE = "(SELECT app_current_org())"
ME = "(SELECT app_current_user())"


def tenant_table(
    table: str,
    *,
    column: str = "org_id",
    grants: str = "SELECT, INSERT, UPDATE, DELETE",
    insert: bool = True,
    update: bool = True,
    delete: bool = True,
) -> list[str]:
    """ENABLE + FORCE RLS and one policy per command, all on ``column = app_current_org()``.

    A command switched off still gets a policy (``false``) so the schema guard sees all four
    and nobody has to wonder whether it was forgotten.
    """
    on = f"{column} = {GATE}"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_select ON {table} FOR SELECT USING ({on})",
        f"CREATE POLICY {table}_insert ON {table} FOR INSERT"
        f" WITH CHECK ({on if insert else 'false'})",
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({on if update else 'false'})"
        f" WITH CHECK ({on if update else 'false'})",
        f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({on if delete else 'false'})",
        f"REVOKE ALL ON {table} FROM PUBLIC",
        f"GRANT {grants} ON {table} TO {APP_ROLE}",
    ]


def person_table(
    table: str,
    *,
    column: str = "id",
    select: str | None = None,
    insert: bool = True,
    update: bool = True,
    delete: bool = False,
) -> list[str]:
    """ENABLE + FORCE RLS and one policy per command on the current person
    (``column = app_current_user()``); ``select`` may widen reads (e.g. to co-members).

    Grants are the migration's business: name the columns the runtime role may read, never
    a hash or secret (the schema guard checks).
    """
    on = f"{column} = {ME}"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_select ON {table} FOR SELECT USING ({select or on})",
        f"CREATE POLICY {table}_insert ON {table} FOR INSERT"
        f" WITH CHECK ({on if insert else 'false'})",
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({on if update else 'false'})"
        f" WITH CHECK ({on if update else 'false'})",
        f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({on if delete else 'false'})",
        f"REVOKE ALL ON {table} FROM PUBLIC",
    ]


def readable_except(table: str, *hidden: str) -> str:
    """Replace the runtime role's table-wide SELECT on ``table`` by SELECT on each column
    it has now except ``hidden`` (hashes, secrets). Columns added later are not readable
    until a migration grants them."""
    names = ", ".join(f"'{h}'" for h in hidden)
    return f"""
DO $$
DECLARE
  v_columns text;
BEGIN
  SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO v_columns
    FROM pg_attribute
   WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped
     AND attname NOT IN ({names});
  EXECUTE format('REVOKE SELECT ON {table} FROM {APP_ROLE}');
  EXECUTE format('GRANT SELECT (%s) ON {table} TO {APP_ROLE}', v_columns);
END
$$"""


def definer_function(signature: str) -> list[str]:
    """Hand a SECURITY DEFINER function to the NOLOGIN definer role; only the app may call it."""
    return [
        f"ALTER FUNCTION {signature} OWNER TO tenantdesk_definer",
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}",
    ]


def drop_tenant_table(table: str) -> list[str]:
    return [f"DROP TABLE IF EXISTS {table} CASCADE"]
