"""SQL snippets every migration uses to put a tenant table under the RLS gate.

Kept in one place so each new table gets exactly the same four policies and grants.
"""

from __future__ import annotations

from dashboard.provisioning import APP_ROLE

GATE = "(SELECT app_current_org())"


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


def definer_function(signature: str) -> list[str]:
    """Hand a SECURITY DEFINER function to the NOLOGIN definer role; only the app may call it."""
    return [
        f"ALTER FUNCTION {signature} OWNER TO tenantdesk_definer",
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}",
    ]


def drop_tenant_table(table: str) -> list[str]:
    return [f"DROP TABLE IF EXISTS {table} CASCADE"]
