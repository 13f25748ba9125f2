"""Certificate expiry mail: which SAML connections' IdP certificates to look at, who their
owners are, and which warnings (30 and 7 days ahead) already went out, so each is sent once.
Operator job only (owner role): it reads across orgs.

Revision ID: 0024_sso_cert_warnings
Revises: 0014_sso_returning
"""

from alembic import op

from dashboard.rls_sql import tenant_table

revision = "0024_sso_cert_warnings"
down_revision = "0014_sso_returning"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE sso_cert_warnings (
  org_id        uuid NOT NULL,
  connection_id uuid NOT NULL,
  cert_sha256   text NOT NULL,
  days_before   integer NOT NULL,
  sent_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, connection_id, cert_sha256, days_before),
  FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id)
    ON DELETE CASCADE
);

CREATE FUNCTION app_sso_saml_certificates()
RETURNS TABLE (org_id uuid, org_name text, connection_id uuid, certs jsonb,
               owner_emails text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id, o.name, c.id, coalesce(c.config->'certs', '[]'::jsonb),
         ARRAY(SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
                WHERE m.org_id = o.id AND m.role = 'owner' AND u.is_active ORDER BY u.email)
    FROM sso_connections c JOIN organizations o ON o.id = c.org_id
   WHERE c.kind = 'saml' AND c.enabled AND o.status = 'active'
$$;

-- Record a warning; true only the first time (the caller mails only then).
CREATE FUNCTION app_sso_note_cert_warning(p_org uuid, p_connection uuid, p_sha text,
                                          p_days integer) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH inserted AS (
    INSERT INTO sso_cert_warnings (org_id, connection_id, cert_sha256, days_before)
    VALUES (p_org, p_connection, left(p_sha, 200), p_days)
    ON CONFLICT DO NOTHING RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM inserted)
$$;
GRANT SELECT, INSERT ON sso_cert_warnings TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in tenant_table("sso_cert_warnings", grants="SELECT", insert=False,
                                  update=False, delete=False):
        op.execute(statement)
    for function in ("app_sso_saml_certificates()",
                     "app_sso_note_cert_warning(uuid, uuid, text, integer)"):
        op.execute(f"ALTER FUNCTION {function} OWNER TO tenantdesk_definer")
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO tenantdesk_owner")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_sso_note_cert_warning(uuid, uuid, text, integer),"
               " app_sso_saml_certificates(); DROP TABLE IF EXISTS sso_cert_warnings")
