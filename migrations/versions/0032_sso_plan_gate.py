"""Single sign-on follows the plan (issue 21): an org whose plan (or override) no longer
includes SSO keeps its connection, but nobody signs in through it and "Require SSO" stops
applying (password sign-in works again), instead of the catalogue saying "Off" while SSO
goes on working.

``app_org_has_feature(org, feature)`` is the entitlement rule of dashboard/licenses/
entitlements.py in SQL, for definer functions that run before any tenant context exists: a
live override decides; else the plan on record while the license is active (or absent),
else the fallback plan 'free'. tests/db/test_sso_plan_gate.py checks it against the Python
rules. It is not callable by the app; ``app_sso_included(connection)`` answers for a
connection, and the email-first look-up and the SSO policies use it.

Revision ID: 0032_sso_plan_gate
Revises: 0006_sso, 0031_upgrade_requests
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0032_sso_plan_gate"
down_revision = ("0006_sso", "0031_upgrade_requests")
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE FUNCTION app_org_has_feature(p_org uuid, p_feature text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT coalesce(
    (SELECT f.enabled FROM feature_overrides f
      WHERE f.org_id = p_org AND f.feature = p_feature
        AND (f.expires_at IS NULL OR f.expires_at > now())),
    EXISTS (
      SELECT 1
        FROM organizations o
        LEFT JOIN licenses l ON l.org_id = o.id
        JOIN plan_features pf ON pf.feature = p_feature
         AND pf.plan = CASE
               WHEN l.org_id IS NULL
                 OR ((l.valid_from IS NULL OR l.valid_from <= now())
                     AND (l.valid_until IS NULL OR l.valid_until > now()))
               THEN o.plan ELSE 'free' END
       WHERE o.id = p_org))
$$;
REVOKE ALL ON FUNCTION app_org_has_feature(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_org_has_feature(uuid, text) TO tenantdesk_definer;

-- Whether a connection's org may sign people in through it right now (NULL: no such
-- connection, which the caller answers like any unknown one).
CREATE FUNCTION app_sso_included(p_connection uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT app_org_has_feature(c.org_id, 'sso') FROM sso_connections c WHERE c.id = p_connection
$$;

-- Email-first login sends nobody to an IdP their org's plan no longer includes.
CREATE OR REPLACE FUNCTION app_sso_domain_connection(p_domain text)
RETURNS TABLE (connection_id uuid, kind text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.id, c.kind
    FROM sso_domains d
    JOIN sso_connections c ON c.org_id = d.org_id AND c.enabled
    JOIN organizations o ON o.id = d.org_id AND o.status = 'active'
   WHERE d.domain = lower(p_domain) AND d.verified_at IS NOT NULL
     AND app_org_has_feature(d.org_id, 'sso')
$$;

-- "Require SSO" binds only while the org has SSO (else its members could not sign in at all).
CREATE OR REPLACE FUNCTION app_user_sso_policies()
RETURNS TABLE (org_id uuid, connection_id uuid, require_sso boolean, owner_break_glass boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.org_id, c.id, c.require_sso AND c.enabled AND app_org_has_feature(c.org_id, 'sso'),
         c.owner_break_glass
    FROM sso_connections c
    JOIN memberships m ON m.org_id = c.org_id
   WHERE m.user_id = app_uuid(current_setting('app.user_id', true))
$$;
"""

PREVIOUS = r"""
CREATE OR REPLACE FUNCTION app_sso_domain_connection(p_domain text)
RETURNS TABLE (connection_id uuid, kind text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.id, c.kind
    FROM sso_domains d
    JOIN sso_connections c ON c.org_id = d.org_id AND c.enabled
    JOIN organizations o ON o.id = d.org_id AND o.status = 'active'
   WHERE d.domain = lower(p_domain) AND d.verified_at IS NOT NULL
$$;
CREATE OR REPLACE FUNCTION app_user_sso_policies()
RETURNS TABLE (org_id uuid, connection_id uuid, require_sso boolean, owner_break_glass boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.org_id, c.id, c.require_sso AND c.enabled, c.owner_break_glass
    FROM sso_connections c
    JOIN memberships m ON m.org_id = c.org_id
   WHERE m.user_id = app_uuid(current_setting('app.user_id', true))
$$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in definer_function("app_sso_included(uuid)"):
        op.execute(statement)


def downgrade() -> None:
    op.execute(PREVIOUS)
    op.execute("DROP FUNCTION IF EXISTS app_sso_included(uuid);"
               " DROP FUNCTION IF EXISTS app_org_has_feature(uuid, text)")
