"""SCIM 2.0 directory sync: provisioned users and groups, the request log, token look-up.

Revision ID: 0016_scim
Revises: 0005_members, 0006_sso, 0007_api, 0010_support

A SCIM User is the org's membership of a (global) person: ``scim_users`` keeps what the
org's IdP says about that person (userName, externalId, emails, name: the IdP's view, never
written into the person's own account), whether it is active, and the role to restore when
it is reactivated. Deactivating deletes the membership itself, so the gate, the principal
loader, access tokens and the switcher all see "not a member" on the very next query, with
no change to the gate. Tokens are ``org_credentials`` of kind 'scim', already accepted by
the gate; ``app_scim_token_lookup`` finds one by prefix before the org is known.
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0016_scim"
down_revision = ("0005_members", "0006_sso", "0007_api", "0010_support")  # tables and grants used here
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE scim_users (
  org_id         uuid NOT NULL REFERENCES organizations(id),
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id        uuid REFERENCES users(id),       -- NULL while only invited
  invitation_id  uuid,                            -- set when the person was invited
  user_name      text NOT NULL CHECK (length(user_name) BETWEEN 1 AND 254),
  external_id    text CHECK (length(external_id) <= 254),
  email          text CHECK (length(email) <= 254),
  active         boolean NOT NULL DEFAULT true,
  role           text CHECK (role ~ '^[a-z0-9_-]{1,40}$'),  -- restored on reactivation
  resource       jsonb NOT NULL DEFAULT '{}'::jsonb,        -- other attributes, as validated
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  deactivated_at timestamptz,
  PRIMARY KEY (org_id, id),
  FOREIGN KEY (org_id, invitation_id) REFERENCES invitations (org_id, id)
);
CREATE UNIQUE INDEX scim_users_user_name_key ON scim_users (org_id, lower(user_name));
CREATE UNIQUE INDEX scim_users_person_key ON scim_users (org_id, user_id);
CREATE INDEX scim_users_external_idx ON scim_users (org_id, external_id);
CREATE INDEX scim_users_email_idx ON scim_users (org_id, lower(email));
CREATE INDEX scim_users_invited_idx ON scim_users (org_id, invitation_id) WHERE user_id IS NULL;

CREATE TABLE scim_groups (
  org_id       uuid NOT NULL REFERENCES organizations(id),
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 256),
  external_id  text CHECK (length(external_id) <= 254),
  role         text CHECK (role ~ '^[a-z0-9_-]{1,40}$' AND role <> 'owner'),  -- mapped role
  version      integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, id)
);
CREATE INDEX scim_groups_name_idx ON scim_groups (org_id, lower(display_name));

CREATE TABLE scim_group_members (
  org_id       uuid NOT NULL REFERENCES organizations(id),
  group_id     uuid NOT NULL,
  scim_user_id uuid NOT NULL,
  display      text CHECK (length(display) <= 256),  -- as the IdP sent it, if it did
  PRIMARY KEY (org_id, group_id, scim_user_id),
  FOREIGN KEY (org_id, group_id) REFERENCES scim_groups (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, scim_user_id) REFERENCES scim_users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_user_idx ON scim_group_members (org_id, scim_user_id);

-- What the org's IdP asked and what it got (the SCIM page shows the latest ones).
CREATE TABLE scim_requests (
  org_id        uuid NOT NULL REFERENCES organizations(id),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  credential_id uuid,
  method        text NOT NULL CHECK (length(method) <= 10),
  path          text NOT NULL CHECK (length(path) <= 300),
  status        integer NOT NULL,
  outcome       text CHECK (length(outcome) <= 300),
  duration_ms   integer,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX scim_requests_org_at_idx ON scim_requests (org_id, at DESC);

-- One SCIM token prefix -> what is needed to check its secret and open its org's context.
CREATE FUNCTION app_scim_token_lookup(p_prefix text)
RETURNS TABLE (credential_id uuid, org_id uuid, secret_hash bytea, scopes text[], state text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.id, c.org_id, c.secret_hash, c.scopes,
         CASE WHEN c.revoked_at IS NOT NULL THEN 'revoked'
              WHEN c.expires_at IS NOT NULL AND c.expires_at <= now() THEN 'expired'
              ELSE 'live' END
    FROM org_credentials c
   WHERE c.kind = 'scim'
     AND p_prefix ~ '^[a-z0-9]{8,16}$'
     AND c.prefix = p_prefix
$$;

-- The person behind a SCIM user of the current org, for a live SCIM token of that org only:
-- the account with this email, created without a password when missing. Only for an email at
-- a domain the org verified; anyone else is invited (their consent), never pulled in.
CREATE FUNCTION app_scim_person(p_email text, p_name text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org   uuid := app_current_org();
  v_email text := lower(btrim(p_email));
  v_user  uuid;
BEGIN
  IF v_org IS NULL OR NOT EXISTS (
       SELECT 1 FROM org_credentials c
        WHERE c.org_id = v_org AND c.kind = 'scim'
          AND c.id = app_uuid(current_setting('app.credential_id', true))) THEN
    RAISE EXCEPTION 'SCIM token only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v_email !~ '^[^@\s]+@[^@\s]+$' OR NOT EXISTS (
       SELECT 1 FROM sso_domains d
        WHERE d.org_id = v_org AND d.verified_at IS NOT NULL
          AND d.domain = split_part(v_email, '@', 2)) THEN
    RAISE EXCEPTION 'email not at a verified domain of the organization'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO users (email, name)
  VALUES (btrim(p_email),
          left(coalesce(nullif(btrim(p_name), ''), split_part(v_email, '@', 1)), 100))
  ON CONFLICT ((lower(email))) DO NOTHING
  RETURNING id INTO v_user;
  IF v_user IS NULL THEN
    SELECT id INTO v_user FROM users WHERE lower(email) = v_email;
  END IF;
  RETURN v_user;
END
$$;

-- `tenantdesk scim-token ORG_SLUG` (operator only, not the runtime role): store a new SCIM
-- token's hash for the org, audited there. Returns the credential id.
CREATE FUNCTION app_operator_scim_token(p_slug text, p_name text, p_prefix text, p_hash bytea)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org uuid;
  v_id  uuid;
BEGIN
  SELECT id INTO v_org FROM organizations WHERE slug = p_slug;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no organization with slug %', p_slug USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash)
  VALUES (v_org, 'scim', p_name, p_prefix, p_hash) RETURNING id INTO v_id;
  INSERT INTO audit_events (org_id, actor, action, target, details)
  VALUES (v_org, 'operator (tenantdesk scim-token)', 'scim.token_create', 'scim-token:' || p_prefix,
          jsonb_build_object('after', jsonb_build_object('name', p_name)));
  RETURN v_id;
END
$$;
"""

GRANTS = """
GRANT INSERT ON users TO tenantdesk_definer;
GRANT SELECT ON sso_domains, org_credentials, organizations TO tenantdesk_definer;
GRANT INSERT ON org_credentials, audit_events TO tenantdesk_definer;
-- A rotated token's old half gets an expiry (the overlap window); nothing else changes.
GRANT UPDATE (expires_at) ON org_credentials TO tenantdesk_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = []
    statements += tenant_table("scim_users")
    statements += tenant_table("scim_groups")
    statements += tenant_table("scim_group_members")
    statements += tenant_table("scim_requests", grants="SELECT, INSERT, DELETE", update=False)
    statements += definer_function("app_scim_token_lookup(text)")
    statements += definer_function("app_scim_person(text, text)")
    signature = "app_operator_scim_token(text, text, text, bytea)"
    statements += [  # the migration role reaches it through its definer role
        f"ALTER FUNCTION {signature} OWNER TO tenantdesk_definer",
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
    ]
    for statement in statements:
        op.execute(statement)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_operator_scim_token(text, text, text, bytea),"
        " app_scim_person(text, text), app_scim_token_lookup(text);"
        " DROP TABLE IF EXISTS scim_requests, scim_group_members, scim_groups, scim_users CASCADE;"
        " REVOKE UPDATE (expires_at) ON org_credentials FROM tenantdesk_app;"
    )
