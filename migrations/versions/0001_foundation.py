"""Foundation: users, organizations, memberships, roles, audit, credentials, the RLS gate.

Revision ID: 0001_foundation
Revises:
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = r"""
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tenantdesk_app;
-- The definer role must be able to own functions in this schema (ALTER FUNCTION ... OWNER).
GRANT USAGE, CREATE ON SCHEMA public TO tenantdesk_definer;

-- A text that is not a UUID reads as NULL instead of raising: bad context = nobody.
CREATE FUNCTION app_uuid(value text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  SELECT CASE
    WHEN value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    THEN value::uuid END
$$;

CREATE FUNCTION app_current_user() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
  SELECT app_uuid(current_setting('app.user_id', true))
$$;

------------------------------------------------------------------------------- global tables
CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  password_hash text,
  is_staff      boolean NOT NULL DEFAULT false,
  is_active     boolean NOT NULL DEFAULT true,
  last_org_id   uuid,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE user_sessions (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  org_id         uuid,
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_seen_at   timestamptz NOT NULL DEFAULT now(),
  ip             text,
  user_agent     text,
  revoked_at     timestamptz,
  revoked_reason text
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE login_attempts (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email_key text NOT NULL,
  ip        text NOT NULL,
  at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email_key, at);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, at);

------------------------------------------------------------------------------- tenant tables
CREATE TABLE organizations (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug                 text NOT NULL UNIQUE
                       CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$'),
  name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  plan                 text NOT NULL DEFAULT 'free',
  settings             jsonb NOT NULL DEFAULT '{}'::jsonb,
  staff_access_allowed boolean NOT NULL DEFAULT true,
  delete_after         timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  org_id         uuid NOT NULL REFERENCES organizations(id),
  user_id        uuid NOT NULL REFERENCES users(id),
  role           text NOT NULL CHECK (role ~ '^[a-z0-9_-]{1,40}$'),
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_active_at timestamptz,
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id, org_id);
CREATE INDEX memberships_org_role_idx ON memberships (org_id, role);

CREATE TABLE roles (
  org_id      uuid NOT NULL REFERENCES organizations(id),
  key         text NOT NULL CHECK (key ~ '^[a-z0-9_-]{1,40}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
  permissions text[] NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, key)
);

CREATE TABLE audit_events (
  org_id        uuid NOT NULL REFERENCES organizations(id),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor_user_id uuid,
  actor         text NOT NULL,
  action        text NOT NULL,
  target        text,
  ip            text,
  user_agent    text,
  details       jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_events_org_at_idx ON audit_events (org_id, at DESC);

-- Machine principals of an org: API keys and SCIM tokens. Secrets are stored as hashes only.
CREATE TABLE org_credentials (
  org_id       uuid NOT NULL REFERENCES organizations(id),
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  kind         text NOT NULL CHECK (kind IN ('api_key', 'scim')),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  prefix       text NOT NULL CHECK (prefix ~ '^[a-z0-9]{8,16}$'),
  secret_hash  bytea NOT NULL,
  scopes       text[] NOT NULL DEFAULT '{}',
  created_by   uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, prefix)
);
CREATE INDEX org_credentials_prefix_idx ON org_credentials (prefix);

-- Time-limited, stated-reason access of a staff member to one org (super-admin mode).
CREATE TABLE support_grants (
  org_id        uuid NOT NULL REFERENCES organizations(id),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  staff_user_id uuid NOT NULL REFERENCES users(id),
  reason        text NOT NULL CHECK (length(reason) BETWEEN 10 AND 500),
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  PRIMARY KEY (org_id, id),
  CHECK (expires_at <= created_at + interval '1 hour')
);
CREATE INDEX support_grants_staff_idx ON support_grants (staff_user_id, org_id);

------------------------------------------------------------------------------- the gate
-- The org of this transaction, only while that org is active and the principal still holds
-- an active grant in it: a membership (app.user_id), a live credential (app.credential_id)
-- or an unexpired support grant. Otherwise NULL, and every tenant table reads empty.
CREATE FUNCTION app_current_org() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id
    FROM organizations o
   WHERE o.id = app_uuid(current_setting('app.org_id', true))
     AND o.status = 'active'
     AND (
       EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                WHERE m.org_id = o.id
                  AND m.user_id = app_uuid(current_setting('app.user_id', true))
                  AND u.is_active)
       OR EXISTS (SELECT 1 FROM org_credentials c
                   WHERE c.org_id = o.id
                     AND c.id = app_uuid(current_setting('app.credential_id', true))
                     AND c.revoked_at IS NULL
                     AND (c.expires_at IS NULL OR c.expires_at > now()))
       OR (o.staff_access_allowed AND EXISTS (
             SELECT 1 FROM support_grants g JOIN users u ON u.id = g.staff_user_id
              WHERE g.org_id = o.id
                AND g.staff_user_id = app_uuid(current_setting('app.user_id', true))
                AND u.is_staff AND u.is_active
                AND g.revoked_at IS NULL AND g.expires_at > now()))
     )
$$;

------------------------------------------------------------------------------- before a tenant is known
-- The signed-in user's own orgs (from app.user_id, never a parameter): id, slug, name,
-- status and role. Powers the switcher and slug -> org resolution.
CREATE FUNCTION app_user_orgs()
RETURNS TABLE (org_id uuid, slug text, name text, status text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id, o.slug, o.name, o.status, m.role
    FROM memberships m JOIN organizations o ON o.id = m.org_id
   WHERE m.user_id = app_uuid(current_setting('app.user_id', true))
   ORDER BY lower(o.name), o.slug
$$;

-- Create an org with the signed-in user as its owner. Returns the new org id.
CREATE FUNCTION app_create_org(p_name text, p_slug text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user uuid := app_uuid(current_setting('app.user_id', true));
  v_org  uuid;
BEGIN
  IF v_user IS NULL OR NOT EXISTS (SELECT 1 FROM users WHERE id = v_user AND is_active) THEN
    RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO organizations (name, slug) VALUES (p_name, p_slug) RETURNING id INTO v_org;
  INSERT INTO memberships (org_id, user_id, role) VALUES (v_org, v_user, 'owner');
  RETURN v_org;
END
$$;
"""

GRANTS = """
GRANT SELECT, INSERT ON users TO tenantdesk_app;
GRANT UPDATE (email, name, password_hash, last_org_id) ON users TO tenantdesk_app;
GRANT SELECT, INSERT ON user_sessions TO tenantdesk_app;
GRANT UPDATE (org_id, last_seen_at, revoked_at, revoked_reason) ON user_sessions TO tenantdesk_app;
GRANT SELECT, INSERT, DELETE ON login_attempts TO tenantdesk_app;

GRANT SELECT ON users, organizations, memberships, org_credentials, support_grants
  TO tenantdesk_definer;
GRANT INSERT ON organizations, memberships TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = []
    statements += tenant_table(
        "organizations", column="id", grants="SELECT", insert=False, delete=False
    )
    statements.append(
        "GRANT UPDATE (name, settings, staff_access_allowed) ON organizations TO tenantdesk_app"
    )
    statements += tenant_table("memberships")
    statements += tenant_table("roles")
    # The audit log is append-only for the app: no UPDATE or DELETE grant, policies say false.
    statements += tenant_table(
        "audit_events", grants="SELECT, INSERT", update=False, delete=False
    )
    statements += tenant_table("org_credentials", grants="SELECT, INSERT, UPDATE")
    statements += tenant_table("support_grants", grants="SELECT")
    statements += definer_function("app_current_org()")
    statements += definer_function("app_user_orgs()")
    statements += definer_function("app_create_org(text, text)")
    statements += [
        "REVOKE ALL ON FUNCTION app_uuid(text), app_current_user() FROM PUBLIC",
        "GRANT EXECUTE ON FUNCTION app_uuid(text), app_current_user()"
        " TO tenantdesk_app, tenantdesk_definer",
    ]
    for statement in statements:
        op.execute(statement)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS support_grants, org_credentials, audit_events, roles, memberships,"
        " organizations, login_attempts, user_sessions, users CASCADE;"
        " DROP FUNCTION IF EXISTS app_create_org(text, text), app_user_orgs(),"
        " app_current_org(), app_current_user(), app_uuid(text);"
    )
