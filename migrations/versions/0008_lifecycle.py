"""Tenant lifecycle: providers, suspension, deletion with grace, purge certificates.

Revision ID: 0008_lifecycle
Revises: 0001_foundation
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0008_lifecycle"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

SCHEMA = r"""
-- A SaaS that provisions orgs through the partner API. Its API secret is stored as a hash.
CREATE TABLE providers (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  key_prefix  text NOT NULL UNIQUE CHECK (key_prefix ~ '^[a-z0-9]{8,16}$'),
  key_hash    bytea NOT NULL,
  grace_days  integer NOT NULL DEFAULT 30 CHECK (grace_days BETWEEN 0 AND 365),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Which org a provider's external id became; the request hash makes provisioning idempotent.
CREATE TABLE provider_orgs (
  provider_id   uuid NOT NULL REFERENCES providers(id),
  external_id   text NOT NULL CHECK (external_id ~ '^[A-Za-z0-9._:-]{1,100}$'),
  org_id        uuid NOT NULL UNIQUE,
  request_hash  text NOT NULL,
  response_ciphertext text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider_id, external_id)
);

-- Proof that an org was purged: kept after every row of the org is gone.
CREATE TABLE deletion_certificates (
  org_id            uuid PRIMARY KEY,
  org_slug          text NOT NULL,
  provider_id       uuid,
  requested_at      timestamptz,
  purged_at         timestamptz NOT NULL DEFAULT now(),
  row_counts_before jsonb NOT NULL,
  row_counts_after  jsonb NOT NULL,
  export_sha256     text NOT NULL CHECK (export_sha256 ~ '^[0-9a-f]{64}$'),
  export_file       text NOT NULL
);

ALTER TABLE organizations ADD COLUMN deletion_requested_at timestamptz;
ALTER TABLE org_credentials DROP CONSTRAINT org_credentials_kind_check;
ALTER TABLE org_credentials ADD CONSTRAINT org_credentials_kind_check
  CHECK (kind IN ('api_key', 'scim', 'system'));

-- The gate, extended: a short-lived 'system' credential (issued only for an export of an org
-- that is due for purge or that belongs to the calling provider) reads even a suspended org.
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
     )
$$;

CREATE FUNCTION app_current_provider() RETURNS uuid
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT app_uuid(current_setting('app.provider_id', true))
$$;

-- May the caller (staff user, owning provider, or for deletion an owner) change this org?
CREATE FUNCTION app_may_manage_org(p_org uuid, p_owner_allowed boolean) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM users u
                  WHERE u.id = app_current_user() AND u.is_staff AND u.is_active)
      OR EXISTS (SELECT 1 FROM provider_orgs p
                  WHERE p.org_id = p_org AND p.provider_id = app_current_provider())
      OR (p_owner_allowed AND EXISTS (
            SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = p_org AND m.user_id = app_current_user()
               AND m.role = 'owner' AND u.is_active))
$$;

-- Suspend, reactivate, schedule or cancel deletion. Writes the audit row in the same
-- transaction. Returns the org's new status ('active' | 'suspended').
CREATE FUNCTION app_org_lifecycle(p_org uuid, p_action text, p_actor text, p_reason text,
                                  p_grace_days integer DEFAULT 30)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_before organizations%ROWTYPE;
  v_after  organizations%ROWTYPE;
BEGIN
  IF p_action NOT IN ('suspend', 'reactivate', 'schedule_deletion', 'cancel_deletion') THEN
    RAISE EXCEPTION 'unknown lifecycle action %', p_action USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT app_may_manage_org(p_org, p_action IN ('schedule_deletion', 'cancel_deletion')) THEN
    RAISE EXCEPTION 'not allowed' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO v_before FROM organizations WHERE id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such organization' USING ERRCODE = 'no_data_found';
  END IF;
  IF p_action = 'suspend' THEN
    UPDATE organizations SET status = 'suspended' WHERE id = p_org RETURNING * INTO v_after;
  ELSIF p_action = 'reactivate' THEN
    UPDATE organizations SET status = 'active' WHERE id = p_org RETURNING * INTO v_after;
  ELSIF p_action = 'schedule_deletion' THEN
    UPDATE organizations
       SET delete_after = coalesce(delete_after, now() + make_interval(days => p_grace_days)),
           deletion_requested_at = coalesce(deletion_requested_at, now())
     WHERE id = p_org RETURNING * INTO v_after;
  ELSE
    UPDATE organizations SET delete_after = NULL, deletion_requested_at = NULL
     WHERE id = p_org RETURNING * INTO v_after;
  END IF;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, details)
  VALUES (p_org, app_current_user(), left(coalesce(p_actor, 'system'), 200), 'org.' || p_action,
          'org:' || v_before.slug,
          jsonb_build_object(
            'reason', left(coalesce(p_reason, ''), 500),
            'before', jsonb_build_object('status', v_before.status, 'delete_after', v_before.delete_after),
            'after', jsonb_build_object('status', v_after.status, 'delete_after', v_after.delete_after)));
  RETURN v_after.status;
END
$$;

-- A 15-minute read-only-by-convention credential for exporting an org that is due for purge
-- or that belongs to the calling provider. Returns the credential id.
CREATE FUNCTION app_issue_export_credential(p_org uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_id uuid;
BEGIN
  IF NOT (EXISTS (SELECT 1 FROM organizations WHERE id = p_org AND delete_after <= now())
          OR EXISTS (SELECT 1 FROM provider_orgs
                      WHERE org_id = p_org AND provider_id = app_current_provider())) THEN
    RAISE EXCEPTION 'not allowed' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash, expires_at)
  VALUES (p_org, 'system', 'export', substr(md5(gen_random_uuid()::text), 1, 16), '\x00',
          now() + interval '15 minutes')
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;

-- Orgs whose grace period is over.
CREATE FUNCTION app_due_deletions() RETURNS TABLE (org_id uuid, slug text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT id, slug FROM organizations WHERE delete_after <= now() ORDER BY delete_after
$$;

-- Delete every row of a due org in every tenant table, children first, and keep a
-- certificate with the row counts before and after and the export's checksum.
CREATE FUNCTION app_purge_org(p_org uuid, p_export_sha256 text, p_export_file text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org     organizations%ROWTYPE;
  v_before  jsonb := '{}'::jsonb;
  v_after   jsonb := '{}'::jsonb;
  v_tables  text[];
  v_left    text[];
  v_table   text;
  v_column  text;
  v_count   bigint;
  v_progress boolean;
BEGIN
  SELECT * INTO v_org FROM organizations WHERE id = p_org AND delete_after <= now() FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'organization is not due for deletion' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT array_agg(c.relname::text ORDER BY c.relname) INTO v_tables
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relforcerowsecurity
     AND (c.relname = 'organizations' OR EXISTS (
           SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id'
              AND NOT a.attisdropped));
  FOREACH v_table IN ARRAY v_tables LOOP
    v_column := CASE WHEN v_table = 'organizations' THEN 'id' ELSE 'org_id' END;
    EXECUTE format('SELECT count(*) FROM %I WHERE %I = $1', v_table, v_column)
      INTO v_count USING p_org;
    v_before := v_before || jsonb_build_object(v_table, v_count);
  END LOOP;
  -- Children first: retry tables whose rows are still referenced until nothing is left.
  v_left := v_tables;
  LOOP
    v_progress := false;
    FOREACH v_table IN ARRAY v_left LOOP
      v_column := CASE WHEN v_table = 'organizations' THEN 'id' ELSE 'org_id' END;
      BEGIN
        EXECUTE format('DELETE FROM %I WHERE %I = $1', v_table, v_column) USING p_org;
        v_left := array_remove(v_left, v_table);
        v_progress := true;
      EXCEPTION WHEN foreign_key_violation THEN
        NULL;  -- referenced by a table not yet emptied; try again next round
      END;
    END LOOP;
    EXIT WHEN cardinality(v_left) = 0;
    IF NOT v_progress THEN
      RAISE EXCEPTION 'cannot purge %: rows still referenced in %', p_org, v_left;
    END IF;
  END LOOP;
  FOREACH v_table IN ARRAY v_tables LOOP
    v_column := CASE WHEN v_table = 'organizations' THEN 'id' ELSE 'org_id' END;
    EXECUTE format('SELECT count(*) FROM %I WHERE %I = $1', v_table, v_column)
      INTO v_count USING p_org;
    v_after := v_after || jsonb_build_object(v_table, v_count);
  END LOOP;
  INSERT INTO deletion_certificates (org_id, org_slug, provider_id, requested_at,
                                     row_counts_before, row_counts_after,
                                     export_sha256, export_file)
  VALUES (p_org, v_org.slug,
          (SELECT provider_id FROM provider_orgs WHERE org_id = p_org),
          v_org.deletion_requested_at, v_before, v_after, p_export_sha256, p_export_file);
  RETURN jsonb_build_object('before', v_before, 'after', v_after);
END
$$;
"""

GRANTS = """
GRANT SELECT ON providers, provider_orgs, deletion_certificates TO tenantdesk_app;
GRANT INSERT ON provider_orgs TO tenantdesk_app;
GRANT UPDATE (response_ciphertext) ON provider_orgs TO tenantdesk_app;
GRANT UPDATE (delete_after) ON organizations TO tenantdesk_app;
-- The purge walks every tenant table, including ones later migrations add.
GRANT SELECT, DELETE ON ALL TABLES IN SCHEMA public TO tenantdesk_definer;
ALTER DEFAULT PRIVILEGES FOR ROLE tenantdesk_owner IN SCHEMA public
  GRANT SELECT, DELETE ON TABLES TO tenantdesk_definer;
GRANT UPDATE (status, delete_after, deletion_requested_at) ON organizations TO tenantdesk_definer;
GRANT INSERT ON audit_events, org_credentials, deletion_certificates TO tenantdesk_definer;
GRANT SELECT ON providers TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(GRANTS)
    for signature in (
        "app_current_org()",
        "app_may_manage_org(uuid, boolean)",
        "app_org_lifecycle(uuid, text, text, text, integer)",
        "app_issue_export_credential(uuid)",
        "app_due_deletions()",
        "app_purge_org(uuid, text, text)",
    ):
        for statement in definer_function(signature):
            op.execute(statement)
    op.execute("REVOKE ALL ON FUNCTION app_current_provider() FROM PUBLIC")
    op.execute(
        "GRANT EXECUTE ON FUNCTION app_current_provider() TO tenantdesk_app, tenantdesk_definer"
    )


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_purge_org(uuid, text, text), app_due_deletions(),"
        " app_issue_export_credential(uuid), app_org_lifecycle(uuid, text, text, text, integer),"
        " app_may_manage_org(uuid, boolean), app_current_provider();"
        " DROP TABLE IF EXISTS deletion_certificates, provider_orgs, providers;"
        " ALTER TABLE organizations DROP COLUMN IF EXISTS deletion_requested_at;"
    )
