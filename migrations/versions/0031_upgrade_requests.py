"""Upgrade requests (issue 21): a member who meets "not included in your plan" asks for it;
the org's owners are mailed and Tenantdesk staff see the request in the console. Also the
staff console's org list by pages (a total and an offset) instead of one capped list.

``upgrade_requests`` is a tenant table under the gate. Staff read open requests across orgs
through ``app_staff_upgrade_requests`` (staff only, a few columns) and mark one handled
through ``app_staff_handle_upgrade_request``.

Revision ID: 0031_upgrade_requests
Revises: 0010_support, 0030_catalogue_honesty
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0031_upgrade_requests"
down_revision = ("0010_support", "0030_catalogue_honesty")
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE upgrade_requests (
  org_id       uuid NOT NULL REFERENCES organizations(id),
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  feature      text NOT NULL REFERENCES features(key),
  requested_by uuid REFERENCES users(id),
  note         text CHECK (length(note) <= 500),
  created_at   timestamptz NOT NULL DEFAULT now(),
  handled_at   timestamptz,
  PRIMARY KEY (org_id, id)
);
-- One open request per org and feature: asking again says "already asked".
CREATE UNIQUE INDEX upgrade_requests_open_key ON upgrade_requests (org_id, feature)
  WHERE handled_at IS NULL;
CREATE INDEX upgrade_requests_open_idx ON upgrade_requests (created_at DESC)
  WHERE handled_at IS NULL;

-- Open requests across orgs, newest first: what staff need to follow up, nothing else.
CREATE FUNCTION app_staff_upgrade_requests(p_limit integer)
RETURNS TABLE (request_id uuid, org_id uuid, org_slug text, org_name text, plan text,
               feature text, feature_name text, requested_by text, created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
    SELECT r.id, o.id, o.slug, o.name, o.plan, r.feature, f.name, u.email, r.created_at
      FROM upgrade_requests r
      JOIN organizations o ON o.id = r.org_id
      JOIN features f ON f.key = r.feature
      LEFT JOIN users u ON u.id = r.requested_by
     WHERE r.handled_at IS NULL
     ORDER BY r.created_at DESC
     LIMIT least(greatest(p_limit, 1), 200);
END
$$;

-- Staff close a request (after changing the plan, or deciding not to): audited in the org.
CREATE FUNCTION app_staff_handle_upgrade_request(p_org uuid, p_request uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_feature text;
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  UPDATE upgrade_requests SET handled_at = now()
   WHERE org_id = p_org AND id = p_request AND handled_at IS NULL
  RETURNING feature INTO v_feature;
  IF v_feature IS NULL THEN
    RETURN false;
  END IF;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, details)
  SELECT p_org, u.id, 'staff:' || u.email, 'license.upgrade_request_handled',
         'feature:' || v_feature, jsonb_build_object('request', p_request)
    FROM users u WHERE u.id = app_current_user();
  RETURN true;
END
$$;

-- The console's org list by pages of 50: the same search as app_staff_orgs, from an offset,
-- and the number of matches (two functions: a definer function stays narrow).
CREATE FUNCTION app_staff_orgs_page(p_query text, p_offset integer)
RETURNS TABLE (org_id uuid, slug text, name text, status text, plan text,
               staff_access_allowed boolean, delete_after timestamptz, members bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
    SELECT o.id, o.slug, o.name, o.status, o.plan, o.staff_access_allowed, o.delete_after,
           (SELECT count(*) FROM memberships m WHERE m.org_id = o.id)
      FROM organizations o
     WHERE p_query IS NULL OR p_query = ''
        OR o.slug ILIKE '%' || p_query || '%' OR o.name ILIKE '%' || p_query || '%'
        OR o.id::text = p_query
     ORDER BY lower(o.name), o.slug
     OFFSET greatest(p_offset, 0)
     LIMIT 50;
END
$$;

CREATE FUNCTION app_staff_orgs_count(p_query text) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN (SELECT count(*) FROM organizations o
           WHERE p_query IS NULL OR p_query = ''
              OR o.slug ILIKE '%' || p_query || '%' OR o.name ILIKE '%' || p_query || '%'
              OR o.id::text = p_query);
END
$$;
"""

FUNCTIONS = (
    "app_staff_upgrade_requests(integer)",
    "app_staff_handle_upgrade_request(uuid, uuid)",
    "app_staff_orgs_page(text, integer)",
    "app_staff_orgs_count(text)",
)


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in tenant_table("upgrade_requests", grants="SELECT, INSERT",
                                  update=False, delete=False):
        op.execute(statement)
    op.execute("GRANT SELECT, UPDATE (handled_at) ON upgrade_requests TO tenantdesk_definer;"
               " GRANT SELECT ON features TO tenantdesk_definer")
    for signature in FUNCTIONS:
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {', '.join(FUNCTIONS)}")
    op.execute("DROP TABLE IF EXISTS upgrade_requests")
