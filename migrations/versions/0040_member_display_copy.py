"""The members page reads only the org's memberships: each person's name and email are kept on
the membership too (issue 20).

Until now the page looked each of its 51 people up in ``users``, a person-scoped table whose
read policy probes ``memberships`` once per person (the current org's members only) and adds
two more gate calls per query: about 1.2x the cost of the same query without RLS. Like
``sort_name``/``search_key`` (migration 0020), ``memberships.person_name``/``person_email``
are copies of ``users.name``/``users.email`` written only by triggers, never by the writer of
the row:

- a new or changed membership copies them from ``users`` (BEFORE INSERT OR UPDATE);
- a person renamed or given a new email (profile, email change, any UPDATE of ``users``)
  updates every membership of that person, in the same transaction.

Who can read them does not change: ``users`` shows a person's name and email to the current
org's members (its policy: a membership in ``app_current_org()``); the copy is on that very
membership, a tenant row readable only through the org's own policy, i.e. the same gate.

Revision ID: 0040_member_display_copy
Revises: 0027_people_peer_probe (after 0020_perf, which added the copies' triggers, and
0011_people, which put users under forced RLS)
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0040_member_display_copy"
down_revision = "0027_people_peer_probe"
branch_labels = None
depends_on = None

COPIES = r"""
-- A membership's copies of its person's name and email, always from users.
CREATE OR REPLACE FUNCTION app_membership_person_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  SELECT lower(u.name), lower(u.name) || E'\n' || lower(u.email), u.name, u.email
    INTO NEW.sort_name, NEW.search_key, NEW.person_name, NEW.person_email
    FROM users u WHERE u.id = NEW.user_id;
  NEW.sort_name := coalesce(NEW.sort_name, '');
  NEW.search_key := coalesce(NEW.search_key, '');
  NEW.person_name := coalesce(NEW.person_name, '');
  NEW.person_email := coalesce(NEW.person_email, '');
  RETURN NEW;
END
$$;

-- A person renamed (or with a new email) is re-sorted and re-shown in every org they belong to.
CREATE OR REPLACE FUNCTION app_user_membership_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE memberships
     SET sort_name = lower(NEW.name), search_key = lower(NEW.name) || E'\n' || lower(NEW.email),
         person_name = NEW.name, person_email = NEW.email
   WHERE user_id = NEW.id;
  RETURN NULL;
END
$$;
"""

SCHEMA = r"""
ALTER TABLE memberships
  ADD COLUMN person_name  text NOT NULL DEFAULT '',
  ADD COLUMN person_email text NOT NULL DEFAULT '';

-- The backfill reads every org's rows and every person: the owner lifts FORCE for it, in this
-- transaction only (DDL is transactional, so no other session ever sees either unforced).
-- The row triggers would recompute what this statement writes, and it changes no role (the
-- counts' trigger): both are off for this statement only, under the same lock.
ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships DISABLE TRIGGER memberships_person_keys,
  DISABLE TRIGGER memberships_count_update;
UPDATE memberships m SET person_name = u.name, person_email = u.email
  FROM users u WHERE u.id = m.user_id;
ALTER TABLE memberships ENABLE TRIGGER memberships_person_keys,
  ENABLE TRIGGER memberships_count_update;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;

GRANT UPDATE (person_name, person_email) ON memberships TO tenantdesk_definer;
"""

PREVIOUS = r"""
CREATE OR REPLACE FUNCTION app_membership_person_keys() RETURNS trigger
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

CREATE OR REPLACE FUNCTION app_user_membership_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE memberships
     SET sort_name = lower(NEW.name), search_key = lower(NEW.name) || E'\n' || lower(NEW.email)
   WHERE user_id = NEW.id;
  RETURN NULL;
END
$$;
"""


def _define(sql: str) -> None:
    op.execute(sql)
    for signature in ("app_membership_person_keys()", "app_user_membership_keys()"):
        for statement in definer_function(signature):
            op.execute(statement)


def upgrade() -> None:
    op.execute(SCHEMA)
    _define(COPIES)


def downgrade() -> None:
    _define(PREVIOUS)
    op.execute("ALTER TABLE memberships DROP COLUMN IF EXISTS person_email,"
               " DROP COLUMN IF EXISTS person_name")
