"""SSO abuse limits: refused anonymous logins are counted per connection and minute instead
of one audit row each (an anonymous client could add ~170 rows/s with text of its choosing).

The first refusal of a minute writes one audit row (its reason truncated and marked as
untrusted text); the rest of that minute only increments a counter; the next refusal after
the minute writes one summary row with the count. So a flood of 1,000 posts leaves a
handful of audit rows, and the SSO page shows the counts.

Revision ID: 0011_sso_refusals
Revises: 0006_sso
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0011_sso_refusals"
down_revision = "0006_sso"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE sso_refusals (
  org_id            uuid NOT NULL,
  connection_id     uuid NOT NULL,
  minute            timestamptz NOT NULL,
  refused           integer NOT NULL DEFAULT 1,
  sample_reason     text NOT NULL,
  sample_ip         text,
  sample_user_agent text,
  summarised        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (org_id, connection_id, minute),
  FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id)
    ON DELETE CASCADE
);

-- Untrusted text (reasons quote what the client sent; user agents are the client's) is cut
-- short and flagged, so the audit page never shows more than a sample of it.
CREATE OR REPLACE FUNCTION app_sso_record_failure(p_connection uuid, p_reason text, p_ip text,
                                                  p_user_agent text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org    uuid;
  v_minute timestamptz := date_trunc('minute', now());
  v_first  boolean;
  v_closed record;
BEGIN
  SELECT c.org_id INTO v_org FROM sso_connections c WHERE c.id = p_connection;
  IF v_org IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO sso_refusals AS r (org_id, connection_id, minute, sample_reason, sample_ip,
                                 sample_user_agent)
  VALUES (v_org, p_connection, v_minute, left(p_reason, 200), left(p_ip, 64),
          left(p_user_agent, 120))
  ON CONFLICT (org_id, connection_id, minute) DO UPDATE SET refused = r.refused + 1
  RETURNING (xmax = 0) INTO v_first;
  IF NOT v_first THEN
    RETURN;  -- counted; the minute's first row already told the audit log
  END IF;
  FOR v_closed IN
    UPDATE sso_refusals s SET summarised = true
     WHERE s.org_id = v_org AND s.connection_id = p_connection AND s.minute < v_minute
       AND NOT s.summarised AND s.refused > 1
    RETURNING s.*
  LOOP
    INSERT INTO audit_events (org_id, actor, action, target, ip, user_agent, details)
    VALUES (v_org, 'anonymous', 'sso.login_failed', 'sso:' || p_connection,
            v_closed.sample_ip, v_closed.sample_user_agent,
            jsonb_build_object('summary', true, 'minute', v_closed.minute,
                               'refused', v_closed.refused,
                               'sample_reason', v_closed.sample_reason,
                               'untrusted_text', true));
  END LOOP;
  DELETE FROM sso_refusals s
   WHERE s.org_id = v_org AND s.connection_id = p_connection
     AND s.minute < now() - interval '30 days';
  INSERT INTO audit_events (org_id, actor, action, target, ip, user_agent, details)
  VALUES (v_org, 'anonymous', 'sso.login_failed', 'sso:' || p_connection, left(p_ip, 64),
          left(p_user_agent, 120),
          jsonb_build_object('reason', left(p_reason, 200), 'untrusted_text', true,
                             'minute', v_minute,
                             'note', 'further refusals this minute are counted, then summarised'));
END
$$;
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE, DELETE ON sso_refusals TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    # The app reads the counts for the SSO page; only the definer function writes them.
    for statement in tenant_table("sso_refusals", grants="SELECT", insert=False, update=False,
                                  delete=False):
        op.execute(statement)
    for statement in definer_function("app_sso_record_failure(uuid, text, text, text)"):
        op.execute(statement)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sso_refusals CASCADE")
