"""Isolation tiers: the routing table, per-plan limits, tenant moves and their certificates.

Revision ID: 0011_tiers
Revises: 0010_support, 0002_plans_b_terms

``tenant_routes`` says where an org's cell tables live (shared schema ``public``, a schema of
its own, or a dedicated database named by an environment variable). An org without a row is on
the shared tier. The app reads a route only through ``app_tenant_route`` (called inside the
statement that sets the RLS context, so routing costs no extra round trip); the CLI (owner
role) and the audited staff function ``app_staff_request_move`` write.
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0011_tiers"
down_revision = ("0010_support", "0002_plans_b_terms")
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE tenant_routes (
  org_id                  uuid PRIMARY KEY,
  tier                    text NOT NULL DEFAULT 'shared'
                          CHECK (tier IN ('shared', 'schema', 'dedicated')),
  schema_name             text CHECK (schema_name ~ '^tenant_[0-9a-f]{32}$'),
  connection_ref          text CHECK (connection_ref ~ '^[A-Z][A-Z0-9_]{0,62}$'),
  revision                text,
  state                   text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving')),
  statement_timeout_ms    integer CHECK (statement_timeout_ms BETWEEN 100 AND 600000),
  max_concurrent_requests integer CHECK (max_concurrent_requests BETWEEN 1 AND 1000),
  pool_size               integer CHECK (pool_size BETWEEN 1 AND 100),
  version                 bigint NOT NULL DEFAULT 1,
  updated_at              timestamptz NOT NULL DEFAULT now(),
  CHECK ((tier = 'shared') = (schema_name IS NULL)),
  CHECK ((tier = 'dedicated') = (connection_ref IS NOT NULL))
);

-- Per-plan limits for noisy neighbours (a catalogue, like plans; per-org overrides live in
-- tenant_routes).
CREATE TABLE plan_limits (
  plan                    text PRIMARY KEY REFERENCES plans(key),
  statement_timeout_ms    integer NOT NULL CHECK (statement_timeout_ms BETWEEN 100 AND 600000),
  max_concurrent_requests integer NOT NULL CHECK (max_concurrent_requests BETWEEN 1 AND 1000)
);
INSERT INTO plan_limits (plan, statement_timeout_ms, max_concurrent_requests) VALUES
  ('free', 5000, 8), ('starter', 10000, 16), ('growth', 15000, 32),
  ('scale', 30000, 64), ('enterprise', 60000, 128);

-- One row per move; the finished row is the move certificate (counts and checksums of every
-- table on both sides). Outlives the org like deletion_certificates.
CREATE TABLE tenant_moves (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id       uuid NOT NULL,
  org_slug     text NOT NULL,
  from_tier    text NOT NULL,
  from_schema  text,
  from_ref     text,
  to_tier      text NOT NULL CHECK (to_tier IN ('shared', 'schema', 'dedicated')),
  to_schema    text,
  to_ref       text,
  state        text NOT NULL DEFAULT 'requested'
               CHECK (state IN ('requested', 'copying', 'verified', 'switched', 'done',
                                'aborted')),
  tables       jsonb NOT NULL DEFAULT '{}'::jsonb,
  requested_by text NOT NULL,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
CREATE UNIQUE INDEX tenant_moves_one_open_idx ON tenant_moves (org_id)
  WHERE state NOT IN ('done', 'aborted');
CREATE INDEX tenant_moves_org_idx ON tenant_moves (org_id, created_at DESC);

-- The route of one org with its effective limits; no row = shared, with the plan's limits.
-- search_path is what the transaction must use for the org's cell tables.
CREATE FUNCTION app_tenant_route(p_org uuid)
RETURNS TABLE (tier text, search_path text, connection_ref text, revision text, state text,
               version bigint, statement_timeout_ms integer, max_concurrent_requests integer,
               pool_size integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce(r.tier, 'shared'),
         CASE WHEN r.tier = 'schema' THEN r.schema_name || ', public'
              WHEN r.tier = 'dedicated' THEN r.schema_name || ', public'
              ELSE 'public' END,
         r.connection_ref, r.revision, coalesce(r.state, 'active'), coalesce(r.version, 0),
         coalesce(r.statement_timeout_ms, l.statement_timeout_ms, 15000),
         coalesce(r.max_concurrent_requests, l.max_concurrent_requests, 32),
         r.pool_size
    FROM organizations o
    LEFT JOIN tenant_routes r ON r.org_id = o.id
    LEFT JOIN plan_limits l ON l.plan = o.plan
   WHERE o.id = p_org
$$;

-- Staff: tier and limits of an org they look at (no tenant rows).
CREATE FUNCTION app_staff_tenant_tier(p_org uuid)
RETURNS TABLE (tier text, schema_name text, connection_ref text, revision text, state text,
               statement_timeout_ms integer, max_concurrent_requests integer, pool_size integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
    SELECT coalesce(r.tier, 'shared'), r.schema_name, r.connection_ref, r.revision,
           coalesce(r.state, 'active'),
           coalesce(r.statement_timeout_ms, l.statement_timeout_ms),
           coalesce(r.max_concurrent_requests, l.max_concurrent_requests), r.pool_size
      FROM organizations o
      LEFT JOIN tenant_routes r ON r.org_id = o.id
      LEFT JOIN plan_limits l ON l.plan = o.plan
     WHERE o.id = p_org;
END
$$;

-- Staff: the org's latest moves (state, not rows).
CREATE FUNCTION app_staff_tenant_moves(p_org uuid)
RETURNS TABLE (move_id uuid, from_tier text, to_tier text, state text, requested_by text,
               updated_at timestamptz, error text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
    SELECT m.id, m.from_tier, m.to_tier, m.state, m.requested_by, m.updated_at, m.error
      FROM tenant_moves m WHERE m.org_id = p_org ORDER BY m.created_at DESC LIMIT 10;
END
$$;

-- Staff ask for a move; `tenantdesk tenants move --requested` (owner role) carries it out.
-- Audited in the org's own log, in the same transaction.
CREATE FUNCTION app_staff_request_move(p_org uuid, p_to text, p_target text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_staff users%ROWTYPE;
  v_slug  text;
  v_from  text;
  v_move  uuid;
BEGIN
  SELECT * INTO v_staff FROM users WHERE id = app_current_user() AND is_staff AND is_active;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_to NOT IN ('shared', 'schema', 'dedicated') THEN
    RAISE EXCEPTION 'unknown tier' USING ERRCODE = 'check_violation';
  END IF;
  IF (p_to = 'dedicated') <> (p_target IS NOT NULL AND p_target ~ '^[A-Z][A-Z0-9_]{0,62}$') THEN
    RAISE EXCEPTION 'a dedicated database needs the name of its environment variable'
      USING ERRCODE = 'check_violation';
  END IF;
  SELECT slug INTO v_slug FROM organizations WHERE id = p_org;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such organization' USING ERRCODE = 'no_data_found';
  END IF;
  SELECT coalesce((SELECT tier FROM tenant_routes WHERE org_id = p_org), 'shared') INTO v_from;
  IF v_from = p_to AND p_to <> 'dedicated' THEN
    RAISE EXCEPTION 'already on that tier' USING ERRCODE = 'check_violation';
  END IF;
  INSERT INTO tenant_moves (org_id, org_slug, from_tier, to_tier, to_ref, requested_by)
  VALUES (p_org, v_slug, v_from, p_to, p_target, 'staff:' || v_staff.email)
  RETURNING id INTO v_move;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, details)
  VALUES (p_org, v_staff.id, 'staff:' || v_staff.email, 'tenant.move.requested',
          'org:' || v_slug, jsonb_build_object('to', p_to, 'target', p_target, 'move', v_move));
  RETURN v_move;
END
$$;

-- Purging an org (app_purge_org deletes its organizations row last) also empties its tenant
-- schema first, whatever tables it holds, and forgets its route.
CREATE FUNCTION app_tier_purge_cells() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_schema   text;
  v_left     text[];
  v_table    text;
  v_progress boolean;
BEGIN
  SELECT schema_name INTO v_schema FROM tenant_routes WHERE org_id = OLD.id;
  IF v_schema IS NOT NULL THEN
    SELECT coalesce(array_agg(c.relname::text), '{}') INTO v_left
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = v_schema AND c.relkind IN ('r', 'p');
    LOOP
      EXIT WHEN cardinality(v_left) = 0;
      v_progress := false;
      FOREACH v_table IN ARRAY v_left LOOP
        BEGIN
          EXECUTE format('DELETE FROM %I.%I WHERE org_id = $1', v_schema, v_table) USING OLD.id;
          v_left := array_remove(v_left, v_table);
          v_progress := true;
        EXCEPTION WHEN foreign_key_violation THEN
          NULL;
        END;
      END LOOP;
      IF NOT v_progress THEN
        RAISE EXCEPTION 'cannot purge tier rows of %: still referenced in %', OLD.id, v_left;
      END IF;
    END LOOP;
  END IF;
  DELETE FROM tenant_routes WHERE org_id = OLD.id;
  RETURN OLD;
END
$$;
CREATE TRIGGER organizations_tier_purge BEFORE DELETE ON organizations
  FOR EACH ROW EXECUTE FUNCTION app_tier_purge_cells();
"""

GRANTS = """
REVOKE ALL ON tenant_routes, plan_limits, tenant_moves FROM PUBLIC;
GRANT SELECT ON plan_limits TO tenantdesk_app;
GRANT SELECT, DELETE ON tenant_routes TO tenantdesk_definer;
GRANT SELECT ON plan_limits TO tenantdesk_definer;
GRANT SELECT, INSERT ON tenant_moves TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(GRANTS)
    for signature in (
        "app_tenant_route(uuid)",
        "app_staff_tenant_tier(uuid)",
        "app_staff_tenant_moves(uuid)",
        "app_staff_request_move(uuid, text, text)",
        "app_tier_purge_cells()",
    ):
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS organizations_tier_purge ON organizations;"
        " DROP FUNCTION IF EXISTS app_tier_purge_cells(), app_staff_request_move(uuid, text, text),"
        " app_staff_tenant_moves(uuid), app_staff_tenant_tier(uuid), app_tenant_route(uuid);"
        " DROP TABLE IF EXISTS tenant_moves, plan_limits, tenant_routes;"
    )
