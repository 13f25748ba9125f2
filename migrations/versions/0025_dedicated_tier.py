"""Dedicated databases: the route of a dedicated org, and the shared gate's signed verdict.

Revision ID: 0025_dedicated_tier
Revises: 0011_tiers_b

A dedicated org's cell tables live in ``public`` of a database of its own (same migrations,
same roles, same forced RLS); its control plane (memberships, credentials, people...) stays
in the shared database, where the gate ``app_current_org()`` can read it. PostgreSQL cannot
join across databases, so the shared gate's verdict travels: ``app_tier_ticket()`` returns,
only while the gate admits the current principal, ``org|user|credential|provider|expiry``
with a keyed SHA-256 over it (``tier_gate_keys``, readable by the definer role only). The
app hands the ticket to the dedicated database's transaction, whose gate
(``dashboard/tiers/dedicated.py``) admits exactly that org for exactly that principal until
the expiry, and nothing without a ticket it can verify. The ticket is minted afresh at the
start of every transaction, so a removal or a suspension cuts the dedicated tier on the very
next transaction, as it does on the others.
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0025_dedicated_tier"
down_revision = "0011_tiers_b"
branch_labels = None
depends_on = None

SCHEMA = r"""
-- A dedicated org has no schema of its own: its tables are public in its own database.
DO $$
DECLARE v_name text;
BEGIN
  SELECT conname INTO v_name FROM pg_constraint
   WHERE conrelid = 'tenant_routes'::regclass AND contype = 'c'
     AND pg_get_constraintdef(oid) LIKE '%(tier = ''shared''::text) = (schema_name IS NULL)%';
  IF v_name IS NOT NULL THEN
    EXECUTE format('ALTER TABLE tenant_routes DROP CONSTRAINT %I', v_name);
  END IF;
END
$$;
ALTER TABLE tenant_routes ADD CONSTRAINT tenant_routes_schema_only_for_schema_tier
  CHECK ((tier = 'schema') = (schema_name IS NOT NULL));

CREATE OR REPLACE FUNCTION app_tenant_route(p_org uuid)
RETURNS TABLE (tier text, search_path text, connection_ref text, revision text, state text,
               version bigint, statement_timeout_ms integer, max_concurrent_requests integer,
               pool_size integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce(r.tier, 'shared'),
         CASE WHEN r.tier = 'schema' THEN r.schema_name || ', public' ELSE 'public' END,
         r.connection_ref, r.revision, coalesce(r.state, 'active'), coalesce(r.version, 0),
         coalesce(r.statement_timeout_ms, l.statement_timeout_ms, 15000),
         coalesce(r.max_concurrent_requests, l.max_concurrent_requests, 32),
         r.pool_size
    FROM organizations o
    LEFT JOIN tenant_routes r ON r.org_id = o.id
    LEFT JOIN plan_limits l ON l.plan = o.plan
   WHERE o.id = p_org
$$;

-- One key per installation, copied into every dedicated database by the owner role.
CREATE TABLE tier_gate_keys (
  id     integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  secret bytea NOT NULL
);
INSERT INTO tier_gate_keys (secret)
VALUES (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
        || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

-- sha256(key || sha256(key || message)): keyed, and not extendable (no pgcrypto needed).
CREATE FUNCTION app_tier_sign(p_message text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT encode(sha256(k.secret || sha256(k.secret || convert_to(p_message, 'UTF8'))), 'hex')
    FROM tier_gate_keys k WHERE k.id = 1
$$;

-- The shared gate's verdict for the current transaction, signed; NULL when it says no.
-- VOLATILE: evaluated after the set_config calls of the same statement, never folded.
CREATE FUNCTION app_tier_ticket(p_seconds integer DEFAULT 120) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.v || '.' || app_tier_sign(m.v)
    FROM (SELECT app_current_org() AS org) g,
         LATERAL (SELECT concat_ws('|', g.org::text,
                                   coalesce(current_setting('app.user_id', true), ''),
                                   coalesce(current_setting('app.credential_id', true), ''),
                                   coalesce(current_setting('app.provider_id', true), ''),
                                   (extract(epoch FROM clock_timestamp())::bigint
                                    + least(greatest(p_seconds, 1), 600))::text) AS v) m
   WHERE g.org IS NOT NULL
$$;

-- Purging an org on a dedicated database cannot reach it from a trigger here: refuse, so
-- nothing is left behind unseen (move it back to the shared tier first).
CREATE OR REPLACE FUNCTION app_tier_refuse_dedicated_purge() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM tenant_routes WHERE org_id = OLD.id AND tier = 'dedicated') THEN
    RAISE EXCEPTION 'organization % is on a dedicated database: move it to the shared tier'
                    ' before purging it', OLD.id USING ERRCODE = 'object_in_use';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER organizations_tier_dedicated_purge BEFORE DELETE ON organizations
  FOR EACH ROW EXECUTE FUNCTION app_tier_refuse_dedicated_purge();
"""

GRANTS = """
REVOKE ALL ON tier_gate_keys FROM PUBLIC;
GRANT SELECT ON tier_gate_keys TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(GRANTS)
    # The signing function stays with the definer role: the app may ask for a ticket for
    # itself (through the gate), never for a signature over a message of its choosing.
    op.execute("ALTER FUNCTION app_tier_sign(text) OWNER TO tenantdesk_definer;"
               " REVOKE ALL ON FUNCTION app_tier_sign(text) FROM PUBLIC;")
    for signature in (
        "app_tenant_route(uuid)",
        "app_tier_ticket(integer)",
        "app_tier_refuse_dedicated_purge()",
    ):
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS organizations_tier_dedicated_purge ON organizations;"
        " DROP FUNCTION IF EXISTS app_tier_refuse_dedicated_purge(), app_tier_ticket(integer),"
        " app_tier_sign(text);"
        " DROP TABLE IF EXISTS tier_gate_keys;"
    )
