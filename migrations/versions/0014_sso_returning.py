"""Returning people whose IdP sends a new (transient or rotating) NameID at each sign-in.

``app_sso_match_email`` is asked only after a validated assertion carried an email, and only
answers for an email at a domain the connection's org verified (that org's IdP is the
authority for it). It names the account with that email and whether it has a password; when
the connection identifies returning people by email too (``p_rebind``), for an account
without one (made by just-in-time provisioning) that already has an identity on this
connection, it moves that identity to the new subject, so the person signs in as
themselves instead of meeting a password prompt they cannot answer, and identities do not
pile up one per sign-in.

Revision ID: 0014_sso_returning
Revises: 0013_sso_logout
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0014_sso_returning"
down_revision = "0013_sso_logout"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE FUNCTION app_sso_match_email(p_connection uuid, p_issuer text, p_email text,
                                    p_subject text, p_rebind boolean)
RETURNS TABLE (user_id uuid, rebound boolean, has_password boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org      uuid;
  v_user     uuid;
  v_password boolean;
  v_identity uuid;
BEGIN
  SELECT c.org_id INTO v_org FROM sso_connections c JOIN organizations o ON o.id = c.org_id
   WHERE c.id = p_connection AND c.enabled AND o.status = 'active';
  IF v_org IS NULL OR NOT EXISTS (
       SELECT 1 FROM sso_domains d
        WHERE d.org_id = v_org AND d.verified_at IS NOT NULL
          AND d.domain = lower(split_part(p_email, '@', 2))) THEN
    RETURN;
  END IF;
  SELECT u.id, u.password_hash IS NOT NULL INTO v_user, v_password
    FROM users u WHERE lower(u.email) = lower(p_email) AND u.is_active;
  IF v_user IS NULL THEN
    RETURN;
  END IF;
  IF p_rebind AND NOT v_password THEN
    SELECT i.id INTO v_identity FROM sso_identities i
     WHERE i.org_id = v_org AND i.connection_id = p_connection AND i.issuer = p_issuer
       AND i.user_id = v_user
     ORDER BY i.last_login_at DESC NULLS LAST LIMIT 1;
    IF v_identity IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM sso_identities i
          WHERE i.org_id = v_org AND i.connection_id = p_connection
            AND i.issuer = p_issuer AND i.subject = p_subject) THEN
      UPDATE sso_identities SET subject = left(p_subject, 500)
       WHERE org_id = v_org AND id = v_identity;
      RETURN QUERY SELECT v_user, true, false;
      RETURN;
    END IF;
  END IF;
  RETURN QUERY SELECT v_user, false, v_password;
END
$$;
GRANT UPDATE (subject) ON sso_identities TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in definer_function("app_sso_match_email(uuid, text, text, text, boolean)"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_sso_match_email(uuid, text, text, text, boolean)")
