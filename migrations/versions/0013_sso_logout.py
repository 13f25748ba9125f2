"""SAML Single Logout initiated by the IdP: end the Tenantdesk sessions that signed in through
that connection as that NameID. The IdP's LogoutRequest arrives before anyone is known (and
ends other people's sessions), so it goes through one narrow definer function.

Revision ID: 0013_sso_logout
Revises: 0012_saml_sp_keys
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0013_sso_logout"
down_revision = "0012_saml_sp_keys"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE FUNCTION app_sso_idp_logout(p_connection uuid, p_issuer text, p_subject text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org   uuid;
  v_count integer;
BEGIN
  SELECT c.org_id INTO v_org FROM sso_connections c WHERE c.id = p_connection AND c.enabled;
  IF v_org IS NULL THEN
    RETURN 0;
  END IF;
  UPDATE user_sessions s
     SET revoked_at = now(), revoked_reason = 'signed out at the identity provider'
   WHERE s.revoked_at IS NULL AND s.auth_method = 'sso' AND s.sso_org_id = v_org
     AND s.user_id IN (SELECT i.user_id FROM sso_identities i
                        WHERE i.org_id = v_org AND i.connection_id = p_connection
                          AND i.issuer = p_issuer AND i.subject = p_subject);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  INSERT INTO audit_events (org_id, actor, action, target, details)
  VALUES (v_org, 'identity provider', 'sso.logout', 'sso:' || p_connection,
          jsonb_build_object('initiated_by', 'idp', 'sessions_ended', v_count));
  RETURN v_count;
END
$$;
GRANT SELECT ON user_sessions TO tenantdesk_definer;
GRANT UPDATE (revoked_at, revoked_reason) ON user_sessions TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in definer_function("app_sso_idp_logout(uuid, text, text)"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_sso_idp_logout(uuid, text, text)")
