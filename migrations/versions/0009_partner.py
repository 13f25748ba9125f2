"""Partner provisioning: the provider becomes a principal of the gate for the orgs it owns.

Revision ID: 0009_partner
Revises: 0008_lifecycle
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0009_partner"
down_revision = "0008_lifecycle"
branch_labels = None
depends_on = None

SCHEMA = r"""
-- The gate once more: a provider (app.provider_id) reaches the orgs it provisioned, even while
-- suspended, so it can bill the final period and export; suspension still cuts every session,
-- API key, SCIM token and SSO login of the org itself.
CREATE OR REPLACE FUNCTION app_current_org() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id
    FROM organizations o
   WHERE o.id = app_uuid(current_setting('app.org_id', true))
     AND (
       (o.status = 'active' AND (
         EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                  WHERE m.org_id = o.id
                    AND m.user_id = app_uuid(current_setting('app.user_id', true))
                    AND u.is_active)
         OR EXISTS (SELECT 1 FROM org_credentials c
                     WHERE c.org_id = o.id
                       AND c.id = app_uuid(current_setting('app.credential_id', true))
                       AND c.kind IN ('api_key', 'scim')
                       AND c.revoked_at IS NULL
                       AND (c.expires_at IS NULL OR c.expires_at > now()))
         OR (o.staff_access_allowed AND EXISTS (
               SELECT 1 FROM support_grants g JOIN users u ON u.id = g.staff_user_id
                WHERE g.org_id = o.id
                  AND g.staff_user_id = app_uuid(current_setting('app.user_id', true))
                  AND u.is_staff AND u.is_active
                  AND g.revoked_at IS NULL AND g.expires_at > now()))
       ))
       OR EXISTS (SELECT 1 FROM org_credentials c
                   WHERE c.org_id = o.id
                     AND c.id = app_uuid(current_setting('app.credential_id', true))
                     AND c.kind = 'system'
                     AND c.revoked_at IS NULL AND c.expires_at > now())
       OR EXISTS (SELECT 1 FROM provider_orgs p
                   WHERE p.org_id = o.id
                     AND p.provider_id = app_uuid(current_setting('app.provider_id', true)))
     )
$$;

-- Create the org for (provider, external id), or return the existing one when the request is
-- the same. Serialised per external id, so concurrent identical calls make one org.
-- Returns the org id and whether it was created; a different request raises 'conflict'.
CREATE FUNCTION app_partner_provision(p_org uuid, p_external_id text, p_request_hash text,
                                      p_name text, p_slug text, p_plan text, p_settings jsonb)
RETURNS TABLE (org_id uuid, created boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_provider uuid := app_current_provider();
  v_existing provider_orgs%ROWTYPE;
  v_org uuid;
BEGIN
  IF v_provider IS NULL OR NOT EXISTS (SELECT 1 FROM providers WHERE id = v_provider) THEN
    RAISE EXCEPTION 'no provider' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(v_provider::text || '/' || p_external_id, 0));
  SELECT * INTO v_existing FROM provider_orgs
   WHERE provider_id = v_provider AND external_id = p_external_id;
  IF FOUND THEN
    IF v_existing.request_hash <> p_request_hash THEN
      RAISE EXCEPTION 'external id already provisioned with a different request'
        USING ERRCODE = 'unique_violation', HINT = 'conflict';
    END IF;
    RETURN QUERY SELECT v_existing.org_id, false;
    RETURN;
  END IF;
  -- The caller chose the id so its transaction could start with this org as its RLS context.
  INSERT INTO organizations (id, name, slug, plan, settings)
  VALUES (p_org, p_name, p_slug, p_plan, coalesce(p_settings, '{}'::jsonb))
  RETURNING id INTO v_org;
  INSERT INTO provider_orgs (provider_id, external_id, org_id, request_hash)
  VALUES (v_provider, p_external_id, v_org, p_request_hash);
  RETURN QUERY SELECT v_org, true;
END
$$;

-- The calling provider's orgs (few columns), newest first.
CREATE FUNCTION app_provider_orgs()
RETURNS TABLE (org_id uuid, external_id text, slug text, name text, status text, plan text,
               delete_after timestamptz, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id, p.external_id, o.slug, o.name, o.status, o.plan, o.delete_after, o.created_at
    FROM provider_orgs p JOIN organizations o ON o.id = p.org_id
   WHERE p.provider_id = app_current_provider()
   ORDER BY o.created_at DESC, o.id
$$;

-- Rename or re-plan one of the provider's orgs (audited in the org's own log).
CREATE FUNCTION app_partner_update_org(p_org uuid, p_name text, p_plan text, p_actor text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_before organizations%ROWTYPE;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM provider_orgs
                  WHERE org_id = p_org AND provider_id = app_current_provider()) THEN
    RAISE EXCEPTION 'no such organization' USING ERRCODE = 'no_data_found';
  END IF;
  SELECT * INTO v_before FROM organizations WHERE id = p_org FOR UPDATE;
  UPDATE organizations SET name = coalesce(p_name, name), plan = coalesce(p_plan, plan)
   WHERE id = p_org;
  INSERT INTO audit_events (org_id, actor, action, target, details)
  VALUES (p_org, left(p_actor, 200), 'org.update', 'org:' || v_before.slug,
          jsonb_build_object(
            'before', jsonb_build_object('name', v_before.name, 'plan', v_before.plan),
            'after', jsonb_build_object('name', coalesce(p_name, v_before.name),
                                        'plan', coalesce(p_plan, v_before.plan))));
END
$$;
"""

GRANTS = """
GRANT INSERT ON organizations, provider_orgs TO tenantdesk_definer;
GRANT UPDATE (name, plan) ON organizations TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(GRANTS)
    for signature in (
        "app_current_org()",
        "app_partner_provision(uuid, text, text, text, text, text, jsonb)",
        "app_provider_orgs()",
        "app_partner_update_org(uuid, text, text, text)",
    ):
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_partner_update_org(uuid, text, text, text),"
        " app_provider_orgs(), app_partner_provision(uuid, text, text, text, text, text, jsonb)"
    )
