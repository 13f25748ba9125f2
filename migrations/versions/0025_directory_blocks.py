"""Directory blocks: a person the org's directory (SCIM) deactivated cannot come back by
another door.

Revision ID: 0025_directory_blocks
Revises: 0016_scim, 0011_accounts

Deactivation deletes the membership (0016), but SSO just-in-time joining, an old or new
invitation and joining by email domain each insert a membership of their own. While the
directory says "inactive", the org's IdP is the truth: ``directory_blocks`` holds (org,
person) from deactivation until the directory reactivates or re-creates that person, and a
trigger refuses any membership insert for a blocked pair, whatever code path attempts it
(SQLSTATE TD403, which the app answers with a 403 naming the directory).
"""

from alembic import op

from dashboard.rls_sql import tenant_table

revision = "0025_directory_blocks"
down_revision = ("0016_scim", "0011_accounts")
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE directory_blocks (
  org_id     uuid NOT NULL REFERENCES organizations(id),
  user_id    uuid NOT NULL REFERENCES users(id),
  blocked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);

CREATE FUNCTION app_directory_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM directory_blocks b
              WHERE b.org_id = NEW.org_id AND b.user_id = NEW.user_id) THEN
    RAISE EXCEPTION 'deactivated by the organization''s directory'
      USING ERRCODE = 'TD403';
  END IF;
  RETURN NEW;
END
$$;
ALTER FUNCTION app_directory_guard() OWNER TO tenantdesk_definer;
REVOKE ALL ON FUNCTION app_directory_guard() FROM PUBLIC;
GRANT SELECT ON directory_blocks TO tenantdesk_definer;

CREATE TRIGGER memberships_directory_guard BEFORE INSERT ON memberships
  FOR EACH ROW EXECUTE FUNCTION app_directory_guard();

-- Joining by domain no longer offers an org whose directory deactivated the person.
CREATE OR REPLACE FUNCTION app_account_joinable_orgs()
RETURNS TABLE (org_id uuid, slug text, name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id, o.slug, o.name, coalesce(o.settings->>'domain_join_role', 'member')
    FROM users u
    JOIN sso_domains d ON d.domain = lower(split_part(u.email, '@', 2))
                      AND d.verified_at IS NOT NULL
    JOIN organizations o ON o.id = d.org_id AND o.status = 'active'
                        AND coalesce((o.settings->>'domain_join')::boolean, false)
   WHERE u.id = app_current_user() AND u.is_active
     AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = o.id AND m.user_id = u.id)
     AND NOT EXISTS (SELECT 1 FROM directory_blocks b WHERE b.org_id = o.id AND b.user_id = u.id)
   ORDER BY lower(o.name)
$$;

-- People deactivated before this migration are blocked from now on too.
INSERT INTO directory_blocks (org_id, user_id)
SELECT org_id, user_id FROM scim_users WHERE NOT active AND user_id IS NOT NULL
ON CONFLICT DO NOTHING;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in tenant_table("directory_blocks", grants="SELECT, INSERT, DELETE",
                                  update=False):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS memberships_directory_guard ON memberships;"
               " DROP FUNCTION IF EXISTS app_directory_guard(); DROP TABLE IF EXISTS directory_blocks;")
