"""API keys: the prefix look-up before the org is known, and tighter column grants.

Revision ID: 0007_api
Revises: 0001_foundation
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0007_api"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

LOOKUP = r"""
-- One API key prefix -> the few values needed to check the secret and open the org's context.
-- No names, no creator, no timestamps: revoked/expired is reported as a state only.
CREATE FUNCTION app_api_key_lookup(p_prefix text)
RETURNS TABLE (credential_id uuid, org_id uuid, secret_hash bytea, scopes text[], state text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.id, c.org_id, c.secret_hash, c.scopes,
         CASE WHEN c.revoked_at IS NOT NULL THEN 'revoked'
              WHEN c.expires_at IS NOT NULL AND c.expires_at <= now() THEN 'expired'
              ELSE 'live' END
    FROM org_credentials c
   WHERE c.kind = 'api_key'
     AND p_prefix ~ '^[a-z0-9]{8,16}$'
     AND c.prefix = p_prefix
$$;
"""

# The runtime role may only name, revoke and touch a credential, never rewrite its secret,
# scopes or org.
GRANTS = [
    "REVOKE UPDATE ON org_credentials FROM tenantdesk_app",
    "GRANT UPDATE (name, revoked_at, last_used_at) ON org_credentials TO tenantdesk_app",
]


def upgrade() -> None:
    op.execute(LOOKUP)
    for statement in definer_function("app_api_key_lookup(text)") + GRANTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_api_key_lookup(text)")
    op.execute("GRANT UPDATE ON org_credentials TO tenantdesk_app")
