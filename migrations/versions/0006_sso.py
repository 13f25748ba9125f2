"""Per-tenant SSO: connections (SAML/OIDC), verified domains, external identities, login
requests and the assertion replay cache; session auth method for SSO enforcement.

Revision ID: 0006_sso
Revises: 0001_foundation
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0006_sso"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

SCHEMA = r"""
------------------------------------------------------------------------------- tenant tables
-- One SSO connection per org. Protocol settings live in `config` (SAML: idp_entity_id,
-- sso_url, certs; OIDC: issuer, client_id, scopes); the OIDC client secret is sealed with
-- AES-GCM by the app (dashboard/sso/crypto.py), never stored in clear.
CREATE TABLE sso_connections (
  org_id              uuid NOT NULL REFERENCES organizations(id),
  id                  uuid NOT NULL DEFAULT gen_random_uuid(),
  kind                text NOT NULL CHECK (kind IN ('saml', 'oidc')),
  enabled             boolean NOT NULL DEFAULT true,
  config              jsonb NOT NULL DEFAULT '{}'::jsonb,
  client_secret       bytea,
  default_role        text NOT NULL DEFAULT 'member'
                      CHECK (default_role ~ '^[a-z0-9_-]{1,40}$' AND default_role <> 'owner'),
  attribute_map       jsonb NOT NULL DEFAULT '{}'::jsonb,
  allow_idp_initiated boolean NOT NULL DEFAULT false,
  require_sso         boolean NOT NULL DEFAULT false,
  owner_break_glass   boolean NOT NULL DEFAULT true,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id)
);
CREATE INDEX sso_connections_id_idx ON sso_connections (id);

CREATE TABLE sso_domains (
  org_id          uuid NOT NULL REFERENCES organizations(id),
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  domain          text NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 3 AND 253),
  token           text NOT NULL CHECK (length(token) BETWEEN 16 AND 100),
  verified_at     timestamptz,
  last_checked_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, domain)
);
-- A domain is verified by one org only (the definer check gives the clean error; this index
-- closes the race between two orgs verifying at the same moment).
CREATE UNIQUE INDEX sso_domains_verified_key ON sso_domains (domain) WHERE verified_at IS NOT NULL;

-- Who an IdP says someone is: (connection, issuer, subject) -> user. Never matched by email.
CREATE TABLE sso_identities (
  org_id        uuid NOT NULL REFERENCES organizations(id),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  connection_id uuid NOT NULL,
  issuer        text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 1000),
  subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 500),
  user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  email         text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, connection_id, issuer, subject),
  FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_identities_user_idx ON sso_identities (org_id, user_id);

------------------------------------------------------------------------------- global tables
-- Logins in flight, written before anyone is known (see tenancy.GLOBAL_TABLES): the SAML
-- AuthnRequest ID or OIDC state, kept server-side so InResponseTo/state can be matched and
-- used once; a SAML result waits here between the ACS POST and the browser's GET.
CREATE TABLE sso_login_requests (
  id            text PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 128),
  org_id        uuid NOT NULL,
  connection_id uuid NOT NULL,
  purpose       text NOT NULL CHECK (purpose IN ('login', 'test', 'idp_initiated')),
  user_id       uuid,
  nonce         text,
  code_verifier text,
  next_path     text CHECK (length(next_path) <= 2000),
  result        jsonb,
  consumed_at   timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_login_requests_expiry_idx ON sso_login_requests (expires_at);

-- Assertion IDs already used, kept until their NotOnOrAfter (replay cache).
CREATE TABLE sso_seen_assertions (
  org_id        uuid NOT NULL,
  connection_id uuid NOT NULL,
  assertion_id  text NOT NULL CHECK (length(assertion_id) BETWEEN 1 AND 256),
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (connection_id, assertion_id),
  FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_seen_assertions_expiry_idx ON sso_seen_assertions (expires_at);

-- How a browser session was authenticated, so SSO enforcement can refuse password sessions.
ALTER TABLE user_sessions
  ADD COLUMN auth_method text NOT NULL DEFAULT 'password'
      CHECK (auth_method IN ('password', 'sso', 'break_glass')),
  ADD COLUMN sso_org_id uuid;

------------------------------------------------------------------------------- before a tenant is known
-- A login's connection settings, by connection id (ACS, callback, start): enabled connections
-- of active orgs only.
CREATE FUNCTION app_sso_connection(p_connection uuid)
RETURNS TABLE (org_id uuid, kind text, config jsonb, client_secret bytea, default_role text,
               attribute_map jsonb, allow_idp_initiated boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.org_id, c.kind, c.config, c.client_secret, c.default_role, c.attribute_map,
         c.allow_idp_initiated
    FROM sso_connections c JOIN organizations o ON o.id = c.org_id
   WHERE c.id = p_connection AND c.enabled AND o.status = 'active'
$$;

-- Email-first login: the connection of the org that verified this exact domain.
CREATE FUNCTION app_sso_domain_connection(p_domain text)
RETURNS TABLE (connection_id uuid, kind text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.id, c.kind
    FROM sso_domains d
    JOIN sso_connections c ON c.org_id = d.org_id AND c.enabled
    JOIN organizations o ON o.id = d.org_id AND o.status = 'active'
   WHERE d.domain = lower(p_domain) AND d.verified_at IS NOT NULL
$$;

-- Is this domain verified by an org other than the current one?
CREATE FUNCTION app_sso_domain_taken(p_domain text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM sso_domains d
                  WHERE d.domain = lower(p_domain) AND d.verified_at IS NOT NULL
                    AND d.org_id IS DISTINCT FROM app_current_org())
$$;

-- The user an external identity belongs to (NULL: first login through this identity).
CREATE FUNCTION app_sso_identity_user(p_connection uuid, p_issuer text, p_subject text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT i.user_id FROM sso_identities i
   WHERE i.connection_id = p_connection AND i.issuer = p_issuer AND i.subject = p_subject
$$;

-- Bind an external identity to the signed-in user (app.user_id, never a parameter) and make
-- them a member of the connection's org when they are not yet (JIT). The role must be one the
-- connection itself names (its default or a group mapping), never owner. Returns true when
-- the membership was created.
CREATE FUNCTION app_sso_join(p_connection uuid, p_issuer text, p_subject text, p_email text,
                             p_role text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user uuid := app_uuid(current_setting('app.user_id', true));
  v_conn sso_connections%ROWTYPE;
  v_owner uuid;
  v_rows integer;
BEGIN
  SELECT c.* INTO v_conn FROM sso_connections c JOIN organizations o ON o.id = c.org_id
   WHERE c.id = p_connection AND c.enabled AND o.status = 'active';
  IF NOT FOUND OR v_user IS NULL
     OR NOT EXISTS (SELECT 1 FROM users WHERE id = v_user AND is_active) THEN
    RAISE EXCEPTION 'no such connection or user' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_role = 'owner' OR NOT (p_role = v_conn.default_role OR p_role IN (
        SELECT value FROM jsonb_each_text(coalesce(v_conn.attribute_map->'group_roles', '{}')))) THEN
    RAISE EXCEPTION 'role not granted by this connection' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT user_id INTO v_owner FROM sso_identities
   WHERE connection_id = p_connection AND issuer = p_issuer AND subject = p_subject;
  IF v_owner IS NOT NULL AND v_owner <> v_user THEN
    RAISE EXCEPTION 'identity belongs to another user' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v_owner IS NULL THEN
    INSERT INTO sso_identities (org_id, connection_id, issuer, subject, user_id, email, last_login_at)
    VALUES (v_conn.org_id, p_connection, p_issuer, p_subject, v_user, p_email, now());
  ELSE
    UPDATE sso_identities SET last_login_at = now(), email = p_email
     WHERE connection_id = p_connection AND issuer = p_issuer AND subject = p_subject;
  END IF;
  INSERT INTO memberships (org_id, user_id, role) VALUES (v_conn.org_id, v_user, p_role)
  ON CONFLICT (org_id, user_id) DO NOTHING;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows = 1;
END
$$;

-- SSO policies of the signed-in user's orgs (for enforcement when a session picks its org).
CREATE FUNCTION app_user_sso_policies()
RETURNS TABLE (org_id uuid, connection_id uuid, require_sso boolean, owner_break_glass boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.org_id, c.id, c.require_sso AND c.enabled, c.owner_break_glass
    FROM sso_connections c
    JOIN memberships m ON m.org_id = c.org_id
   WHERE m.user_id = app_uuid(current_setting('app.user_id', true))
$$;

-- A refused SSO login, recorded in the connection's org before anyone is signed in.
CREATE FUNCTION app_sso_record_failure(p_connection uuid, p_reason text, p_ip text,
                                       p_user_agent text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO audit_events (org_id, actor, action, target, ip, user_agent, details)
  SELECT c.org_id, 'anonymous', 'sso.login_failed', 'sso:' || c.id, left(p_ip, 64),
         left(p_user_agent, 300), jsonb_build_object('reason', left(p_reason, 300))
    FROM sso_connections c WHERE c.id = p_connection
$$;
"""

GRANTS = """
GRANT SELECT, INSERT, DELETE ON sso_login_requests TO tenantdesk_app;
GRANT UPDATE (result, consumed_at) ON sso_login_requests TO tenantdesk_app;
GRANT SELECT, INSERT, DELETE ON sso_seen_assertions TO tenantdesk_app;

GRANT SELECT ON sso_connections, sso_domains, sso_identities TO tenantdesk_definer;
GRANT INSERT, UPDATE (last_login_at, email) ON sso_identities TO tenantdesk_definer;
GRANT INSERT ON audit_events TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = []
    statements += tenant_table("sso_connections")
    statements += tenant_table("sso_domains")
    statements += tenant_table("sso_identities")
    statements += definer_function("app_sso_connection(uuid)")
    statements += definer_function("app_sso_domain_connection(text)")
    statements += definer_function("app_sso_domain_taken(text)")
    statements += definer_function("app_sso_identity_user(uuid, text, text)")
    statements += definer_function("app_sso_join(uuid, text, text, text, text)")
    statements += definer_function("app_user_sso_policies()")
    statements += definer_function("app_sso_record_failure(uuid, text, text, text)")
    for statement in statements:
        op.execute(statement)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_sso_record_failure(uuid, text, text, text),"
        " app_user_sso_policies(), app_sso_join(uuid, text, text, text, text),"
        " app_sso_identity_user(uuid, text, text), app_sso_domain_taken(text),"
        " app_sso_domain_connection(text), app_sso_connection(uuid);"
        " DROP TABLE IF EXISTS sso_seen_assertions, sso_login_requests, sso_identities,"
        " sso_domains, sso_connections CASCADE;"
        " ALTER TABLE user_sessions DROP COLUMN IF EXISTS auth_method,"
        " DROP COLUMN IF EXISTS sso_org_id;"
    )
