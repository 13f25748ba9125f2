"""Organization metadata: string key/value pairs a partner stores on its orgs (a CRM id, a
tenant id of its own), verbatim, indexed by (key, value) and filterable.

The rows are tenant rows (the gate applies: a provider writes them for the orgs it
provisioned, acting for that org). Listing across the provider's orgs goes through one
definer function that only ever reads the calling provider's orgs.

Revision ID: 0023_org_metadata
Revises: 0009_partner
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0023_org_metadata"
down_revision = "0009_partner"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE org_metadata (
  org_id uuid NOT NULL REFERENCES organizations(id),
  key    text NOT NULL CHECK (key ~ '^[A-Za-z0-9_.:-]{1,40}$'),
  value  text NOT NULL CHECK (length(value) <= 500),
  PRIMARY KEY (org_id, key)
);
CREATE INDEX org_metadata_lookup ON org_metadata (key, value, org_id);

-- The metadata of the calling provider's orgs; with a key, only orgs where key = value.
CREATE FUNCTION app_provider_metadata(p_key text DEFAULT NULL, p_value text DEFAULT NULL)
RETURNS TABLE (org_id uuid, key text, value text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.org_id, m.key, m.value
    FROM org_metadata m JOIN provider_orgs p ON p.org_id = m.org_id
   WHERE p.provider_id = app_current_provider()
     AND (p_key IS NULL OR m.org_id IN (SELECT f.org_id FROM org_metadata f
                                         WHERE f.key = p_key AND f.value = p_value))
   ORDER BY m.org_id, m.key
$$;
GRANT SELECT ON org_metadata TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in [*tenant_table("org_metadata"),
                      *definer_function("app_provider_metadata(text, text)")]:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_provider_metadata(text, text);"
               " DROP TABLE IF EXISTS org_metadata")
