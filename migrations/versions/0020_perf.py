"""Pages at the cost floor (issue 20): the members order inside the org, member counts, and a
gate the planner may run in parallel plans.

- ``memberships.sort_name`` (lower(name)) and ``search_key`` (lower name and email): the
  members list is read in (org_id, sort_name, user_id) order from one index, so a page costs
  the same at 5,000 and 100,000 members (keyset pagination), and a search filters the org's
  own rows instead of every user of the installation. Kept in step by triggers: a new or
  changed membership copies them from ``users``; a renamed user or a changed email updates
  every membership of that person.
- ``member_counts``: members per (org, role), kept by a trigger on memberships, so the page
  and the org home show the total without counting 100,000 rows.
- ``app_current_org()`` is PARALLEL SAFE: it only reads tables and the transaction's settings
  (which parallel workers inherit from the leader); before this, no query on a table under a
  policy could use a parallel plan.

Revision ID: 0020_perf
Revises: 0009_partner (the last migration that defines app_current_org)
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0020_perf"
# Every migration that (re)defines app_current_org() must run before the ALTER below, which a
# later CREATE OR REPLACE would undo.
down_revision = "0009_partner"
branch_labels = None
depends_on = None

SCHEMA = r"""
ALTER TABLE memberships
  ADD COLUMN sort_name  text NOT NULL DEFAULT '',
  ADD COLUMN search_key text NOT NULL DEFAULT '';

-- The backfills read every org's rows: the owner lifts FORCE for them, in this transaction
-- only (DDL is transactional, so no other session ever sees memberships unforced).
ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY;
UPDATE memberships m
   SET sort_name = lower(u.name), search_key = lower(u.name) || E'\n' || lower(u.email)
  FROM users u WHERE u.id = m.user_id;


-- A membership's copy of its person's name and email, always from users (never from the
-- writer): on insert, and on any update of the row.
CREATE FUNCTION app_membership_person_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  SELECT lower(u.name), lower(u.name) || E'\n' || lower(u.email)
    INTO NEW.sort_name, NEW.search_key
    FROM users u WHERE u.id = NEW.user_id;
  NEW.sort_name := coalesce(NEW.sort_name, '');
  NEW.search_key := coalesce(NEW.search_key, '');
  RETURN NEW;
END
$$;
CREATE TRIGGER memberships_person_keys BEFORE INSERT OR UPDATE ON memberships
  FOR EACH ROW EXECUTE FUNCTION app_membership_person_keys();

-- A person renamed (or with a new email) is re-sorted in every org they belong to.
CREATE FUNCTION app_user_membership_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE memberships
     SET sort_name = lower(NEW.name), search_key = lower(NEW.name) || E'\n' || lower(NEW.email)
   WHERE user_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER users_membership_keys AFTER UPDATE OF name, email ON users
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email)
  EXECUTE FUNCTION app_user_membership_keys();

-- The members list: one org's rows in name order. The search key and role ride along, so a
-- search or a role filter (and its count) reads the org's index entries, not its heap rows.
-- (A trigram index cannot serve here: LIKE is not leakproof, so under RLS it is a filter
-- after the policy, never an index condition.)
CREATE INDEX memberships_org_sort_idx ON memberships (org_id, sort_name, user_id)
  INCLUDE (search_key, role);

-- Members per (org, role). Written only by the trigger below; the app reads it.
CREATE TABLE member_counts (
  org_id  uuid NOT NULL REFERENCES organizations(id),
  role    text NOT NULL,
  members integer NOT NULL CHECK (members >= 0),
  PRIMARY KEY (org_id, role)
);

-- Statement-level, from the transition tables: one write per (org, role) and statement, so
-- adding 100,000 members in one statement updates one counter row once, and touching
-- last_active_at (an UPDATE that changes no role) writes nothing. The trigger runs as the
-- definer (BYPASSRLS), so the recount sees every row of the org.
CREATE FUNCTION app_member_counts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- A recount of each (org, role) the statement touched (from the (org_id, role) index):
    -- right whatever the row held before, e.g. when a restore wrote member_counts first.
    INSERT INTO member_counts AS c (org_id, role, members)
    SELECT k.org_id, k.role,
           (SELECT count(*) FROM memberships m WHERE m.org_id = k.org_id AND m.role = k.role)
      FROM (SELECT DISTINCT org_id, role FROM new_rows) k
    ON CONFLICT (org_id, role) DO UPDATE SET members = excluded.members;
  ELSIF TG_OP = 'DELETE' THEN
    -- Only an UPDATE: a purge may have emptied member_counts first.
    UPDATE member_counts c SET members = c.members - d.n
      FROM (SELECT org_id, role, count(*) AS n FROM old_rows GROUP BY org_id, role) d
     WHERE c.org_id = d.org_id AND c.role = d.role;
  ELSE
    WITH d AS (
      SELECT org_id, role, sum(n) AS n
        FROM (SELECT org_id, role, -1 AS n FROM old_rows
              UNION ALL SELECT org_id, role, 1 FROM new_rows) x
       GROUP BY org_id, role HAVING sum(n) <> 0
    ), taken AS (
      UPDATE member_counts c SET members = c.members + d.n
        FROM d WHERE d.n < 0 AND c.org_id = d.org_id AND c.role = d.role
    )
    INSERT INTO member_counts AS c (org_id, role, members)
    SELECT org_id, role, n FROM d WHERE n > 0
    ON CONFLICT (org_id, role) DO UPDATE SET members = c.members + excluded.members;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER memberships_count_insert AFTER INSERT ON memberships
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_member_counts();
CREATE TRIGGER memberships_count_delete AFTER DELETE ON memberships
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_member_counts();
CREATE TRIGGER memberships_count_update AFTER UPDATE ON memberships
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION app_member_counts();

INSERT INTO member_counts (org_id, role, members)
SELECT org_id, role, count(*) FROM memberships GROUP BY org_id, role;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;

ALTER FUNCTION app_current_org() PARALLEL SAFE;
"""

GRANTS = """
GRANT UPDATE (sort_name, search_key) ON memberships TO tenantdesk_definer;
GRANT SELECT, INSERT, UPDATE ON member_counts TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in tenant_table("member_counts", grants="SELECT", insert=False, update=False,
                                  delete=False):
        op.execute(statement)
    op.execute(GRANTS)
    for signature in (
        "app_membership_person_keys()",
        "app_user_membership_keys()",
        "app_member_counts()",
    ):
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "ALTER FUNCTION app_current_org() PARALLEL UNSAFE;"
        " DROP TABLE IF EXISTS member_counts;"
        " DROP TRIGGER IF EXISTS memberships_count_insert ON memberships;"
        " DROP TRIGGER IF EXISTS memberships_count_delete ON memberships;"
        " DROP TRIGGER IF EXISTS memberships_count_update ON memberships;"
        " DROP TRIGGER IF EXISTS users_membership_keys ON users;"
        " DROP TRIGGER IF EXISTS memberships_person_keys ON memberships;"
        " DROP FUNCTION IF EXISTS app_member_counts(), app_user_membership_keys(),"
        " app_membership_person_keys();"
        " DROP INDEX IF EXISTS memberships_org_sort_idx;"
        " ALTER TABLE memberships DROP COLUMN IF EXISTS search_key,"
        " DROP COLUMN IF EXISTS sort_name;"
    )
