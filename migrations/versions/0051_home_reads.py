"""The org home's reads, cheaper (issue 20): a revision of the plan catalogue, so each worker
can keep the parsed catalogue, and the checklist's three facts from one gate call.

Revision ID: 0051_home_reads
Revises: 0049_switch_checks_caller

Every org page reads its entitlements, and the statement that reads them built the plans'
and the features' JSON on every request (~120 us of the org home's statement), the same
text for every org until staff change the catalogue. ``catalogue_revision`` holds one value
that a statement trigger replaces on every change of ``plans``, ``features``,
``plan_features``, ``plan_quotas`` and ``plan_limits`` (any INSERT, UPDATE, DELETE or
TRUNCATE), in the changing transaction. The entitlements statement reads it in the same
snapshot as the catalogue and sends the JSON only when the worker's revision is another
one (dashboard/licenses/service.py): a worker that sees revision r sees exactly the
catalogue of r, and a change commits a new r before anyone can read it.

The value is a fresh random uuid per change, not a counter: a counter rolls back with its
transaction and repeats across databases cloned from one template (test databases), and
one process may talk to several databases; a random value is never seen twice.

A catalogue table: read-only for the runtime role, no personal data.

``app_home_checklist()``: whether the current org has a verified domain, an SSO connection
and an API key (the home's getting-started checklist), for the org the gate admits
(``app_current_org()``, called once) and no other: no parameter to name an org. As three
EXISTS under RLS in the home's statement, each of the three tables asked the gate again
(three gate calls per home). NULL gate, no context or not a member: all false. It returns
three booleans, never a row of those tables.
"""

from alembic import op

from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from dashboard.rls_sql import definer_function

revision = "0051_home_reads"
down_revision = "0049_switch_checks_caller"
branch_labels = None
depends_on = ("0011_tiers",)  # plan_limits (another branch of the history)

TABLES = ("plans", "features", "plan_features", "plan_quotas", "plan_limits")

SCHEMA = f"""
CREATE TABLE catalogue_revision (
  one_row  boolean PRIMARY KEY DEFAULT true CHECK (one_row),
  revision uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO catalogue_revision DEFAULT VALUES;
REVOKE ALL ON catalogue_revision FROM PUBLIC;
GRANT SELECT ON catalogue_revision TO {APP_ROLE}, {DEFINER_ROLE};

-- SECURITY INVOKER: whoever may change the catalogue (the owner, migrations) may raise its
-- revision; anyone else's change fails here rather than going unnoticed.
CREATE FUNCTION catalogue_revision_raise() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE public.catalogue_revision SET revision = gen_random_uuid();
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION catalogue_revision_raise() FROM PUBLIC;
-- Statistics now: a table never analysed is guessed at ~1,800 rows, and the one row joins
-- every org page's entitlements statement.
ANALYZE catalogue_revision;
"""

CHECKLIST = """
CREATE FUNCTION app_home_checklist() RETURNS boolean[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT ARRAY[
           EXISTS (SELECT 1 FROM sso_domains d
                    WHERE d.org_id = g.org AND d.verified_at IS NOT NULL),
           EXISTS (SELECT 1 FROM sso_connections s WHERE s.org_id = g.org),
           EXISTS (SELECT 1 FROM org_credentials k
                    WHERE k.org_id = g.org AND k.kind = 'api_key')]
    FROM (SELECT app_current_org() AS org) g
$$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_catalogue_revision"
            f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION catalogue_revision_raise()"
        )
    op.execute(CHECKLIST)
    for statement in definer_function("app_home_checklist()"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_home_checklist()")
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_catalogue_revision ON {table}")
    op.execute("DROP FUNCTION IF EXISTS catalogue_revision_raise()")
    op.execute("DROP TABLE IF EXISTS catalogue_revision")
