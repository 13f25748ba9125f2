"""A revision of each org's member list, so a search's total is counted once per change
(issue 20, session 11).

Revision ID: 0056_member_revisions
Revises: 0041_member_keys_columns

The members search counts its matches over every member of the org (a LIKE on each of the
5,000 index entries of the bench org: ~0.8 ms of the search's ~1.3 ms in PostgreSQL), on
every request, though the answer changes only when the org's members do.
``member_revisions`` holds one value per org that triggers replace, in the changing
transaction, whenever a membership of the org is inserted or deleted or its role or search
key changes (a rename or a new email of the person rewrites the key, 0020). A worker keeps
(revision, total) per (org, search, role) (dashboard/members/search_totals.py); the search
statement reads the revision in the same snapshot as the rows and counts again only when it
is another one: a statement that sees revision r sees exactly the members of r.

The value is a fresh random uuid per change, as catalogue_revision's (0051): a counter would
repeat across databases cloned from one template, with the same org ids.

A delete only replaces an existing row (as member_counts): a purge may have emptied
member_revisions first. No row, no revision: the search counts, as before.

A tenant table read-only for the runtime role; the triggers run as the definer.
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0056_member_revisions"
down_revision = "0041_member_keys_columns"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE member_revisions (
  org_id   uuid PRIMARY KEY REFERENCES organizations(id),
  revision uuid NOT NULL DEFAULT gen_random_uuid()
);

CREATE FUNCTION app_member_revisions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO member_revisions AS r (org_id)
    SELECT DISTINCT org_id FROM new_rows
    ON CONFLICT (org_id) DO UPDATE SET revision = gen_random_uuid();
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE member_revisions r SET revision = gen_random_uuid()
     WHERE r.org_id IN (SELECT org_id FROM old_rows);
  ELSE  -- a row's role, search key or org changed (the trigger's WHEN)
    INSERT INTO member_revisions AS r (org_id)
    SELECT DISTINCT o FROM unnest(ARRAY[OLD.org_id, NEW.org_id]) AS o
    ON CONFLICT (org_id) DO UPDATE SET revision = gen_random_uuid();
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER memberships_revision_insert AFTER INSERT ON memberships
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION app_member_revisions();
CREATE TRIGGER memberships_revision_delete AFTER DELETE ON memberships
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION app_member_revisions();
-- Row level, named columns: the "seen" touch (last_active_at) never fires it. The columns
-- are every one whose update can change the row's role or search key (0041's list: the
-- keys trigger rewrites search_key when one of them is named).
CREATE TRIGGER memberships_revision_update
  AFTER UPDATE OF org_id, user_id, role, sort_name, search_key, person_name, person_email
  ON memberships FOR EACH ROW
  WHEN ((OLD.org_id, OLD.role, OLD.search_key) IS DISTINCT FROM
        (NEW.org_id, NEW.role, NEW.search_key))
  EXECUTE FUNCTION app_member_revisions();

-- Every org's first revision. The owner lifts FORCE to read them, in this transaction only
-- (DDL is transactional: no other session ever sees organizations unforced).
ALTER TABLE organizations NO FORCE ROW LEVEL SECURITY;
INSERT INTO member_revisions (org_id) SELECT id FROM organizations;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON member_revisions TO tenantdesk_definer;
ANALYZE member_revisions;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in tenant_table("member_revisions", grants="SELECT", insert=False,
                                  update=False, delete=False):
        op.execute(statement)
    for statement in definer_function("app_member_revisions()"):
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS memberships_revision_insert ON memberships;"
        " DROP TRIGGER IF EXISTS memberships_revision_delete ON memberships;"
        " DROP TRIGGER IF EXISTS memberships_revision_update ON memberships;"
        " DROP FUNCTION IF EXISTS app_member_revisions();"
        " DROP TABLE IF EXISTS member_revisions;"
    )
