"""A person's time zone and their recently opened orgs (the switcher's "Recent").

Revision ID: 0025_people_time_zone_recent
Revises: 0011_people_b_login, 0011_accounts (users under forced RLS; app_set_last_org)

- ``users.time_zone``: an IANA name (NULL until the browser or the profile page sets it;
  pages then show UTC). The runtime role may read it (column privilege) to format times for
  the signed-in person; it writes it only through ``app_set_time_zone``.
- ``users.recent_org_ids``: the last orgs the person opened, most recent first, kept by
  ``app_set_last_org`` (called on every sign-in and switch). Not readable as a column (it
  names orgs a co-member could not otherwise see): the person reads their own list through
  ``app_recent_orgs``.
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0025_people_time_zone_recent"
down_revision = ("0011_people_b_login", "0011_accounts")
branch_labels = None
depends_on = None

RECENT_KEPT = 8

SCHEMA = f"""
ALTER TABLE users ADD COLUMN time_zone text
  CHECK (time_zone IS NULL OR (length(time_zone) BETWEEN 1 AND 64
                               AND time_zone ~ '^[A-Za-z0-9_+/-]+$'));
ALTER TABLE users ADD COLUMN recent_org_ids uuid[] NOT NULL DEFAULT '{{}}';

-- Where the next sign-in lands, and the front of the person's "recent" list.
CREATE OR REPLACE FUNCTION app_set_last_org(p_org uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE users SET last_org_id = p_org,
                   recent_org_ids = (p_org || array_remove(recent_org_ids, p_org))[1:{RECENT_KEPT}]
   WHERE id = app_current_user()
     AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.org_id = p_org)
$$;

-- The current person's recently opened orgs (ids only; the caller intersects them with
-- app_user_orgs(), so an org left since is never shown).
CREATE FUNCTION app_recent_orgs() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT recent_org_ids FROM users WHERE id = app_current_user()
$$;

-- The current person's time zone; a name PostgreSQL does not know is refused.
CREATE FUNCTION app_set_time_zone(p_zone text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = p_zone) THEN
    RAISE EXCEPTION 'unknown time zone' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE users SET time_zone = p_zone WHERE id = app_current_user();
END
$$;

GRANT SELECT (time_zone) ON users TO tenantdesk_app;
GRANT SELECT (recent_org_ids), UPDATE (last_org_id, recent_org_ids, time_zone)
  ON users TO tenantdesk_definer;
"""

FUNCTIONS = ("app_recent_orgs()", "app_set_time_zone(text)")


def upgrade() -> None:
    op.execute(SCHEMA)
    for signature in FUNCTIONS:
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_recent_orgs(), app_set_time_zone(text);"
        " CREATE OR REPLACE FUNCTION app_set_last_org(p_org uuid) RETURNS void"
        " LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$"
        "  UPDATE users SET last_org_id = p_org WHERE id = app_current_user()"
        "    AND EXISTS (SELECT 1 FROM memberships m"
        "                 WHERE m.user_id = users.id AND m.org_id = p_org) $$;"
        " ALTER TABLE users DROP COLUMN recent_org_ids, DROP COLUMN time_zone;"
    )
