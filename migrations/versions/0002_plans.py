"""Plans, licenses and feature flags per organization.

Global catalogue (read-only for the app): features, plans, plan_features, plan_quotas.
Per org, under RLS and read-only for the app: licenses (one per org) and feature_overrides.
Writes go only through SECURITY DEFINER functions that check the caller is active staff and
write the audit row in the same transaction (see ``app_staff_*`` below).

Why definer functions and not a support grant: a plan change is a billing action by the
vendor, not support work inside the tenant. A support grant would open every tenant table to
the staff member for up to an hour (more than a plan change needs), would need a stated
reason, a banner and the owner's consent (an owner who turned staff access off must still be
able to be upgraded or downgraded), and would still need write grants on licenses for the app
role. With the functions, the app role has no write path to licenses or overrides at all; the
function re-checks users.is_staff in the same transaction and the audit row cannot be skipped.

Revision ID: 0002_plans
Revises: 0001_foundation
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0002_plans"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

CATALOGUE = r"""
CREATE TABLE features (
  key         text PRIMARY KEY CHECK (key ~ '^[a-z0-9-]{1,40}$'),
  name        text NOT NULL,
  description text NOT NULL
);

CREATE TABLE plans (
  key                   text PRIMARY KEY CHECK (key ~ '^[a-z0-9-]{1,40}$'),
  name                  text NOT NULL,
  position              int NOT NULL UNIQUE,  -- display order, cheapest first
  -- Enterprise's figure is a default; each enterprise license may set its own.
  rate_limit_per_minute int NOT NULL CHECK (rate_limit_per_minute > 0)
);

CREATE TABLE plan_features (
  plan    text NOT NULL REFERENCES plans(key),
  feature text NOT NULL REFERENCES features(key),
  PRIMARY KEY (plan, feature)
);

-- One row per plan and metric. quota NULL = unlimited. hard: refuse past the quota;
-- soft: allow and warn. period: what the quota is counted over.
CREATE TABLE plan_quotas (
  plan   text NOT NULL REFERENCES plans(key),
  metric text NOT NULL CHECK (metric IN ('api_calls', 'active_users', 'seats', 'storage_bytes')),
  quota  bigint CHECK (quota >= 0),
  hard   boolean NOT NULL,
  period text NOT NULL CHECK (period IN ('day', 'month', 'current')),
  PRIMARY KEY (plan, metric)
);

INSERT INTO features (key, name, description) VALUES
  ('sso', 'Single sign-on', 'Sign in through your company''s SAML or OIDC identity provider.'),
  ('scim', 'SCIM provisioning', 'Create and remove members automatically from your directory.'),
  ('audit-export', 'Audit log export', 'Download the audit log as CSV.'),
  ('advanced-analytics', 'Advanced analytics', 'Longer usage history and breakdowns.'),
  ('custom-roles', 'Custom roles', 'Define roles with your own set of permissions.'),
  ('api-access', 'API access', 'Org API keys and the JSON API.');

INSERT INTO plans (key, name, position, rate_limit_per_minute) VALUES
  ('free', 'Free', 10, 60),
  ('starter', 'Starter', 20, 100),
  ('growth', 'Growth', 30, 500),
  ('scale', 'Scale', 40, 1000),
  ('enterprise', 'Enterprise', 50, 2000);

INSERT INTO plan_features (plan, feature) VALUES
  ('starter', 'api-access'),
  ('growth', 'api-access'), ('growth', 'sso'), ('growth', 'audit-export'),
  ('growth', 'advanced-analytics'),
  ('scale', 'api-access'), ('scale', 'sso'), ('scale', 'audit-export'),
  ('scale', 'advanced-analytics'), ('scale', 'scim'), ('scale', 'custom-roles'),
  ('enterprise', 'api-access'), ('enterprise', 'sso'), ('enterprise', 'audit-export'),
  ('enterprise', 'advanced-analytics'), ('enterprise', 'scim'), ('enterprise', 'custom-roles');

INSERT INTO plan_quotas (plan, metric, quota, hard, period) VALUES
  ('free',       'seats',         3,              true,  'current'),
  ('free',       'active_users',  3,              true,  'month'),
  ('free',       'api_calls',     1000,           true,  'month'),
  ('free',       'storage_bytes', 104857600,      true,  'current'),
  ('starter',    'seats',         10,             true,  'current'),
  ('starter',    'active_users',  10,             true,  'month'),
  ('starter',    'api_calls',     100000,         true,  'month'),
  ('starter',    'storage_bytes', 10737418240,    true,  'current'),
  ('growth',     'seats',         50,             true,  'current'),
  ('growth',     'active_users',  50,             false, 'month'),
  ('growth',     'api_calls',     1000000,        false, 'month'),
  ('growth',     'storage_bytes', 107374182400,   false, 'current'),
  ('scale',      'seats',         250,            true,  'current'),
  ('scale',      'active_users',  250,            false, 'month'),
  ('scale',      'api_calls',     10000000,       false, 'month'),
  ('scale',      'storage_bytes', 1099511627776,  false, 'current'),
  ('enterprise', 'seats',         NULL,           false, 'current'),
  ('enterprise', 'active_users',  NULL,           false, 'month'),
  ('enterprise', 'api_calls',     NULL,           false, 'month'),
  ('enterprise', 'storage_bytes', NULL,           false, 'current');

ALTER TABLE organizations
  ADD CONSTRAINT organizations_plan_fkey FOREIGN KEY (plan) REFERENCES plans(key);
-- Lets licenses point at (org, plan) so a license's plan can never differ from its org's.
ALTER TABLE organizations ADD CONSTRAINT organizations_id_plan_key UNIQUE (id, plan);
"""

TENANT = r"""
-- The org's current license: the term of its plan. No row = the org's plan with no end date
-- and the plan's own limits. plan follows organizations.plan through the cascading key.
CREATE TABLE licenses (
  org_id                uuid NOT NULL REFERENCES organizations(id),
  id                    uuid NOT NULL DEFAULT gen_random_uuid(),
  plan                  text NOT NULL,
  seats                 int CHECK (seats > 0),                  -- NULL: the plan's seats
  rate_limit_per_minute int CHECK (rate_limit_per_minute > 0),  -- NULL: the plan's limit
  valid_from            timestamptz NOT NULL DEFAULT now(),
  valid_until           timestamptz,                            -- NULL: open-ended
  updated_by            uuid REFERENCES users(id),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id),
  FOREIGN KEY (org_id, plan) REFERENCES organizations (id, plan) ON UPDATE CASCADE,
  CHECK (valid_until IS NULL OR valid_until > valid_from)
);

CREATE TABLE feature_overrides (
  org_id     uuid NOT NULL REFERENCES organizations(id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  feature    text NOT NULL REFERENCES features(key),
  enabled    boolean NOT NULL,
  expires_at timestamptz,                                       -- NULL: until cleared
  reason     text NOT NULL CHECK (length(reason) BETWEEN 3 AND 500),
  set_by     uuid REFERENCES users(id),
  set_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, feature)
);
"""

# The write path. Internal helpers (plain functions, executable by the definer role only) do
# the change and its audit row; the app-callable app_staff_* wrappers first check that
# app.user_id is active staff. A future partner path can wrap the same helpers with its own
# check instead of duplicating the writes.
FUNCTIONS = r"""
CREATE FUNCTION license_change_plan(
  p_org uuid, p_plan text, p_seats int, p_rate_limit int,
  p_valid_from timestamptz, p_valid_until timestamptz,
  p_actor_user uuid, p_actor text, p_reason text, p_ip text, p_user_agent text
) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
  v_before jsonb;
  v_after  jsonb;
BEGIN
  SELECT jsonb_build_object(
           'plan', o.plan, 'seats', l.seats, 'rate_limit_per_minute', l.rate_limit_per_minute,
           'valid_from', l.valid_from, 'valid_until', l.valid_until)
    INTO v_before
    FROM organizations o LEFT JOIN licenses l ON l.org_id = o.id
   WHERE o.id = p_org
     FOR UPDATE OF o;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such organization' USING ERRCODE = 'no_data_found';
  END IF;
  UPDATE organizations SET plan = p_plan WHERE id = p_org;  -- cascades to licenses.plan
  INSERT INTO licenses (org_id, plan, seats, rate_limit_per_minute, valid_from, valid_until,
                        updated_by, updated_at)
  VALUES (p_org, p_plan, p_seats, p_rate_limit, coalesce(p_valid_from, now()), p_valid_until,
          p_actor_user, now())
  ON CONFLICT (org_id) DO UPDATE
     SET seats = EXCLUDED.seats, rate_limit_per_minute = EXCLUDED.rate_limit_per_minute,
         valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,
         updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at;
  SELECT jsonb_build_object(
           'plan', l.plan, 'seats', l.seats, 'rate_limit_per_minute', l.rate_limit_per_minute,
           'valid_from', l.valid_from, 'valid_until', l.valid_until)
    INTO v_after FROM licenses l WHERE l.org_id = p_org;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, ip, user_agent,
                            details)
  VALUES (p_org, p_actor_user, p_actor, 'license.change_plan', 'plan:' || p_plan, p_ip,
          p_user_agent,
          jsonb_build_object('before', v_before, 'after', v_after, 'reason', p_reason));
END
$$;

CREATE FUNCTION license_set_override(
  p_org uuid, p_feature text, p_enabled boolean, p_expires_at timestamptz,
  p_actor_user uuid, p_actor text, p_reason text, p_ip text, p_user_agent text
) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
  v_before jsonb;
BEGIN
  PERFORM 1 FROM organizations WHERE id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such organization' USING ERRCODE = 'no_data_found';
  END IF;
  SELECT jsonb_build_object('enabled', enabled, 'expires_at', expires_at, 'reason', reason)
    INTO v_before FROM feature_overrides WHERE org_id = p_org AND feature = p_feature;
  INSERT INTO feature_overrides (org_id, feature, enabled, expires_at, reason, set_by, set_at)
  VALUES (p_org, p_feature, p_enabled, p_expires_at, p_reason, p_actor_user, now())
  ON CONFLICT (org_id, feature) DO UPDATE
     SET enabled = EXCLUDED.enabled, expires_at = EXCLUDED.expires_at,
         reason = EXCLUDED.reason, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, ip, user_agent,
                            details)
  VALUES (p_org, p_actor_user, p_actor, 'license.set_override', 'feature:' || p_feature, p_ip,
          p_user_agent,
          jsonb_strip_nulls(jsonb_build_object(
            'before', v_before,
            'after', jsonb_build_object('enabled', p_enabled, 'expires_at', p_expires_at,
                                        'reason', p_reason),
            'reason', p_reason)));
END
$$;

CREATE FUNCTION license_clear_override(
  p_org uuid, p_feature text,
  p_actor_user uuid, p_actor text, p_reason text, p_ip text, p_user_agent text
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
  v_before jsonb;
BEGIN
  PERFORM 1 FROM organizations WHERE id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such organization' USING ERRCODE = 'no_data_found';
  END IF;
  DELETE FROM feature_overrides WHERE org_id = p_org AND feature = p_feature
  RETURNING jsonb_build_object('enabled', enabled, 'expires_at', expires_at, 'reason', reason)
       INTO v_before;
  IF v_before IS NULL THEN
    RETURN false;  -- nothing to clear, nothing to audit
  END IF;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, ip, user_agent,
                            details)
  VALUES (p_org, p_actor_user, p_actor, 'license.clear_override', 'feature:' || p_feature,
          p_ip, p_user_agent, jsonb_build_object('before', v_before, 'reason', p_reason));
  RETURN true;
END
$$;

-- The caller (app.user_id) as an active staff member, or an error. Returns the audit label.
CREATE FUNCTION app_require_staff() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_email text;
BEGIN
  SELECT email INTO v_email FROM users
   WHERE id = app_current_user() AND is_staff AND is_active;
  IF v_email IS NULL THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN v_email || ' (staff)';
END
$$;

CREATE FUNCTION app_staff_change_plan(
  p_org uuid, p_plan text, p_seats int, p_rate_limit int,
  p_valid_from timestamptz, p_valid_until timestamptz,
  p_reason text, p_ip text, p_user_agent text
) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM license_change_plan(p_org, p_plan, p_seats, p_rate_limit, p_valid_from,
                              p_valid_until, app_current_user(), app_require_staff(),
                              p_reason, p_ip, p_user_agent);
END
$$;

CREATE FUNCTION app_staff_set_override(
  p_org uuid, p_feature text, p_enabled boolean, p_expires_at timestamptz,
  p_reason text, p_ip text, p_user_agent text
) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
    RAISE EXCEPTION 'expiry must be in the future' USING ERRCODE = 'check_violation';
  END IF;
  PERFORM license_set_override(p_org, p_feature, p_enabled, p_expires_at, app_current_user(),
                               app_require_staff(), p_reason, p_ip, p_user_agent);
END
$$;

CREATE FUNCTION app_staff_clear_override(
  p_org uuid, p_feature text, p_reason text, p_ip text, p_user_agent text
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN license_clear_override(p_org, p_feature, app_current_user(), app_require_staff(),
                                p_reason, p_ip, p_user_agent);
END
$$;

-- Staff read of one org's license, without entering the tenant: only the license facts and
-- the seat count, never member rows.
CREATE FUNCTION app_staff_org_license(p_org uuid)
RETURNS TABLE (slug text, name text, status text, plan text, seats int, rate_limit int,
               valid_from timestamptz, valid_until timestamptz, seats_used bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_require_staff();
  RETURN QUERY
  SELECT o.slug, o.name, o.status, o.plan, l.seats, l.rate_limit_per_minute, l.valid_from,
         l.valid_until, (SELECT count(*) FROM memberships m WHERE m.org_id = o.id)
    FROM organizations o LEFT JOIN licenses l ON l.org_id = o.id
   WHERE o.id = p_org;
END
$$;

CREATE FUNCTION app_staff_org_overrides(p_org uuid)
RETURNS TABLE (feature text, enabled boolean, expires_at timestamptz, reason text,
               set_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_require_staff();
  RETURN QUERY
  SELECT f.feature, f.enabled, f.expires_at, f.reason, f.set_at
    FROM feature_overrides f WHERE f.org_id = p_org ORDER BY f.feature;
END
$$;
"""

INTERNAL = [
    "license_change_plan(uuid, text, int, int, timestamptz, timestamptz, uuid, text, text,"
    " text, text)",
    "license_set_override(uuid, text, boolean, timestamptz, uuid, text, text, text, text)",
    "license_clear_override(uuid, text, uuid, text, text, text, text)",
]

APP_CALLABLE = [
    "app_require_staff()",
    "app_staff_change_plan(uuid, text, int, int, timestamptz, timestamptz, text, text, text)",
    "app_staff_set_override(uuid, text, boolean, timestamptz, text, text, text)",
    "app_staff_clear_override(uuid, text, text, text, text)",
    "app_staff_org_license(uuid)",
    "app_staff_org_overrides(uuid)",
]

GRANTS = """
GRANT SELECT ON features, plans, plan_features, plan_quotas TO tenantdesk_app;
GRANT SELECT ON features, plans, plan_features, plan_quotas TO tenantdesk_definer;
GRANT SELECT, INSERT, UPDATE, DELETE ON licenses, feature_overrides TO tenantdesk_definer;
GRANT UPDATE (plan) ON organizations TO tenantdesk_definer;
GRANT INSERT ON audit_events TO tenantdesk_definer;

-- The staff check trusts users.is_staff, so the app must not be able to mint staff: the
-- foundation granted INSERT on every column of users; narrow it to everything but is_staff.
REVOKE INSERT ON users FROM tenantdesk_app;
GRANT INSERT (id, email, name, password_hash, is_active, last_org_id, created_at)
  ON users TO tenantdesk_app;
"""


def upgrade() -> None:
    op.execute(CATALOGUE)
    for table in ("features", "plans", "plan_features", "plan_quotas"):
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
    op.execute(TENANT)
    statements = []
    # Read-only for the app: every change goes through the audited staff functions.
    for table in ("licenses", "feature_overrides"):
        statements += tenant_table(
            table, grants="SELECT", insert=False, update=False, delete=False
        )
    statements.append(FUNCTIONS)
    for signature in INTERNAL:
        statements += [
            f"ALTER FUNCTION {signature} OWNER TO tenantdesk_definer",
            f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        ]
    for signature in APP_CALLABLE:
        statements += definer_function(signature)
    statements.append(GRANTS)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "GRANT INSERT ON users TO tenantdesk_app;"
        " DROP FUNCTION IF EXISTS app_staff_org_overrides(uuid), app_staff_org_license(uuid),"
        " app_staff_clear_override(uuid, text, text, text, text),"
        " app_staff_set_override(uuid, text, boolean, timestamptz, text, text, text),"
        " app_staff_change_plan(uuid, text, int, int, timestamptz, timestamptz, text, text,"
        " text), app_require_staff(), " + ", ".join(INTERNAL) + ";"
        " DROP TABLE IF EXISTS feature_overrides, licenses CASCADE;"
        " ALTER TABLE organizations DROP CONSTRAINT IF EXISTS organizations_id_plan_key,"
        " DROP CONSTRAINT IF EXISTS organizations_plan_fkey;"
        " DROP TABLE IF EXISTS plan_quotas, plan_features, plans, features CASCADE;"
    )
