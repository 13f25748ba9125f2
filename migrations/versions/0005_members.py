"""Members: email invitations, and the two narrow look-ups an invitee needs before joining.

Revision ID: 0005_members
Revises: 0001_foundation
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0005_members"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

SCHEMA = r"""
-- One row per invitation sent. The token itself is never stored: only its SHA-256.
-- Re-inviting a pending address refreshes its row; accepted and revoked rows stay as history.
CREATE TABLE invitations (
  org_id      uuid NOT NULL REFERENCES organizations(id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  role        text NOT NULL CHECK (role ~ '^[a-z0-9_-]{1,40}$'),
  message     text CHECK (length(message) <= 1000),
  token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
  status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'revoked')),
  invited_by  uuid REFERENCES users(id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  sent_at     timestamptz NOT NULL DEFAULT now(),
  send_count  integer NOT NULL DEFAULT 1,
  expires_at  timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid REFERENCES users(id),
  revoked_at  timestamptz,
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, token_hash)
);
-- Token look-up before the tenant is known (through app_invitation_lookup only).
CREATE INDEX invitations_token_idx ON invitations (token_hash);
CREATE UNIQUE INDEX invitations_pending_email_key
  ON invitations (org_id, lower(email)) WHERE status = 'pending';

-- Member list search and ordering read users by name through memberships.
CREATE INDEX users_lower_name_idx ON users (lower(name), id);

-- What the invitation page needs to know about a token, and nothing else: which invitation,
-- which org (and its name, to say "join Acme"), the invited address and role, its state.
CREATE FUNCTION app_invitation_lookup(p_token_hash bytea)
RETURNS TABLE (invitation_id uuid, org_id uuid, org_name text, email text, role text,
               status text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT i.id, i.org_id, o.name, i.email, i.role, i.status, i.expires_at
    FROM invitations i JOIN organizations o ON o.id = i.org_id
   WHERE i.token_hash = p_token_hash AND o.status = 'active'
$$;

-- Accept an invitation for the signed-in user (app.user_id, never a parameter) into the org of
-- the transaction (app.org_id). Before this runs the gate is NULL for that context (not a member
-- yet); the membership inserted here makes it valid for the rest of the same transaction, so the
-- caller writes the audit row through ordinary RLS and everything commits or rolls back together.
-- Returns an outcome code instead of raising so the page can say exactly what went wrong.
CREATE FUNCTION app_accept_invitation(p_token_hash bytea)
RETURNS TABLE (outcome text, joined_org_id uuid, joined_slug text, joined_role text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user    uuid := app_uuid(current_setting('app.user_id', true));
  v_ctx_org uuid := app_uuid(current_setting('app.org_id', true));
  v_id      uuid;
  v_org     uuid;
  v_slug    text;
  v_email   text;
  v_role    text;
  v_status  text;
  v_expires timestamptz;
  v_user_email text;
BEGIN
  SELECT i.id, i.org_id, o.slug, i.email, i.role, i.status, i.expires_at
    INTO v_id, v_org, v_slug, v_email, v_role, v_status, v_expires
    FROM invitations i JOIN organizations o ON o.id = i.org_id
   WHERE i.token_hash = p_token_hash AND o.status = 'active'
     FOR UPDATE OF i;
  IF NOT FOUND OR v_org IS DISTINCT FROM v_ctx_org THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text; RETURN;
  END IF;
  IF v_status = 'revoked' THEN
    RETURN QUERY SELECT 'revoked'::text, NULL::uuid, NULL::text, NULL::text; RETURN;
  END IF;
  IF v_status = 'accepted' THEN
    RETURN QUERY SELECT 'used'::text, NULL::uuid, NULL::text, NULL::text; RETURN;
  END IF;
  IF v_expires <= now() THEN
    RETURN QUERY SELECT 'expired'::text, NULL::uuid, NULL::text, NULL::text; RETURN;
  END IF;
  SELECT u.email INTO v_user_email FROM users u WHERE u.id = v_user AND u.is_active;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'no_user'::text, NULL::uuid, NULL::text, NULL::text; RETURN;
  END IF;
  IF lower(v_user_email) <> lower(v_email) THEN
    RETURN QUERY SELECT 'wrong_email'::text, NULL::uuid, NULL::text, NULL::text; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = v_org AND m.user_id = v_user) THEN
    RETURN QUERY SELECT 'already_member'::text, v_org, v_slug, NULL::text; RETURN;
  END IF;
  IF v_role NOT IN ('owner', 'admin', 'member', 'guest')
     AND NOT EXISTS (SELECT 1 FROM roles r WHERE r.org_id = v_org AND r.key = v_role) THEN
    RETURN QUERY SELECT 'role_gone'::text, NULL::uuid, NULL::text, NULL::text; RETURN;
  END IF;
  INSERT INTO memberships (org_id, user_id, role) VALUES (v_org, v_user, v_role);
  UPDATE invitations SET status = 'accepted', accepted_at = now(), accepted_by = v_user
   WHERE invitations.org_id = v_org AND invitations.id = v_id;
  RETURN QUERY SELECT 'accepted'::text, v_org, v_slug, v_role;
END
$$;
"""

GRANTS = """
GRANT SELECT ON invitations, roles TO tenantdesk_definer;
GRANT UPDATE (status, accepted_at, accepted_by) ON invitations TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = []
    # Invitations are revoked (status), never deleted: no DELETE grant, the policy says false.
    statements += tenant_table("invitations", grants="SELECT, INSERT, UPDATE", delete=False)
    statements += definer_function("app_invitation_lookup(bytea)")
    statements += definer_function("app_accept_invitation(bytea)")
    for statement in statements:
        op.execute(statement)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_accept_invitation(bytea), app_invitation_lookup(bytea);"
        " DROP INDEX IF EXISTS users_lower_name_idx;"
        " DROP TABLE IF EXISTS invitations CASCADE;"
    )
