"""A session opened on a custom domain records it, and losing the domain revokes it.

Revision ID: 0037_gaps_host_sessions
Revises: 0035_gaps_host_binding

0035 bound the browser cookie to the custom domain row it was used on, so a removed or
un-verified domain's cookies are refused; the session rows behind them stayed live until
they idled out. Now the row records the binding too (``user_sessions.host_domain_id``, set
by ``hosts.bind_session`` in the same transaction that binds the cookie, on one's own row
under the person policy), and a trigger on ``custom_domains`` revokes those rows in the very
transaction that deletes the domain or clears its ``verified_at``, whatever code path does
it. The trigger's function is the definer's (BYPASSRLS; it may only set ``revoked_at`` and
``revoked_reason``) and nobody may call it directly.
"""

from alembic import op

revision = "0037_gaps_host_sessions"
down_revision = "0035_gaps_host_binding"
branch_labels = None
depends_on = None

SCHEMA = r"""
ALTER TABLE user_sessions ADD COLUMN host_domain_id uuid;
CREATE INDEX user_sessions_host_domain ON user_sessions (host_domain_id)
  WHERE host_domain_id IS NOT NULL AND revoked_at IS NULL;
GRANT UPDATE (host_domain_id) ON user_sessions TO tenantdesk_app;

CREATE FUNCTION app_custom_domain_sessions_end() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'DELETE' OR (OLD.verified_at IS NOT NULL AND NEW.verified_at IS NULL) THEN
    UPDATE user_sessions SET revoked_at = now(),
           revoked_reason = CASE TG_OP WHEN 'DELETE' THEN 'custom domain removed'
                                       ELSE 'custom domain unverified' END
     WHERE host_domain_id = OLD.id AND revoked_at IS NULL;
  END IF;
  RETURN NULL;
END
$$;
ALTER FUNCTION app_custom_domain_sessions_end() OWNER TO tenantdesk_definer;
REVOKE ALL ON FUNCTION app_custom_domain_sessions_end() FROM PUBLIC;

CREATE TRIGGER custom_domains_sessions_end
  AFTER DELETE OR UPDATE OF verified_at ON custom_domains
  FOR EACH ROW EXECUTE FUNCTION app_custom_domain_sessions_end();
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS custom_domains_sessions_end ON custom_domains;"
        " DROP FUNCTION IF EXISTS app_custom_domain_sessions_end();"
        " DROP INDEX IF EXISTS user_sessions_host_domain;"
        " ALTER TABLE user_sessions DROP COLUMN IF EXISTS host_domain_id;"
    )
