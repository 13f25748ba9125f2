"""Metadata on members, API keys and usage events (issue 25), beside the orgs' own
(0023_org_metadata): string key/value rows stored verbatim, one row per key, each a tenant
row under the gate with a composite foreign key to its owner (deleted with it), and an
index that leads with the org so a filter by (key, value) reads only the caller's rows.

Staff read an org's metadata, read-only, through ``app_staff_org_metadata`` (staff only).

Revision ID: 0025_metadata
Revises: 0023_org_metadata, 0010_support, 0003_usage_b
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0025_metadata"
down_revision = ("0023_org_metadata", "0010_support", "0003_usage_b")
branch_labels = None
depends_on = None

# Same rules as dashboard/metadata/rules.py (the app refuses first, with a clear message).
KEY = r"key text NOT NULL CHECK (key ~ '^[A-Za-z0-9_.:-]{1,40}$')"
VALUE = r"value text NOT NULL CHECK (length(value) <= 500 AND value !~ '[\x01-\x1f\x7f]')"


def _metadata_table(table: str, column: str, kind: str, parent: str, parent_key: str) -> str:
    """One metadata row per (org, owner, key), deleted with its owner; the lookup index
    leads with the org, so a (key, value) filter reads only the caller's range."""
    return f"""
CREATE TABLE {table} (
  org_id   uuid NOT NULL,
  {column} {kind} NOT NULL,
  {KEY},
  {VALUE},
  PRIMARY KEY (org_id, {column}, key),
  FOREIGN KEY (org_id, {column}) REFERENCES {parent} (org_id, {parent_key}) ON DELETE CASCADE
);
CREATE INDEX {table}_lookup ON {table} (org_id, key, value, {column});
"""


SCHEMA = (
    _metadata_table("member_metadata", "user_id", "uuid", "memberships", "user_id")
    + _metadata_table("api_key_metadata", "credential_id", "uuid", "org_credentials", "id")
    + _metadata_table("usage_event_metadata", "event_id", "bigint", "usage_events", "id")
    + r"""
-- The staff console's read-only view of an org's metadata.
CREATE FUNCTION app_staff_org_metadata(p_org uuid)
RETURNS TABLE (key text, value text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY SELECT m.key, m.value FROM org_metadata m WHERE m.org_id = p_org ORDER BY m.key;
END
$$;
"""
)


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = [
        *tenant_table("member_metadata"),
        # Keys are immutable but for revocation, and so is their metadata; usage events are
        # append-only for the app, and so is theirs.
        *tenant_table("api_key_metadata", grants="SELECT, INSERT", update=False, delete=False),
        *tenant_table("usage_event_metadata", grants="SELECT, INSERT", update=False,
                      delete=False),
        *definer_function("app_staff_org_metadata(uuid)"),
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_staff_org_metadata(uuid);"
               " DROP TABLE IF EXISTS usage_event_metadata, api_key_metadata, member_metadata")
