"""A plan change by any path drops the license's custom seats and rate limit.

Seats and a rate limit agreed for one plan mean nothing on another (400 enterprise seats must
not survive a move to Scale). The staff function sets new terms right after changing the plan;
other paths that only change ``organizations.plan`` (the partner API) get the new plan's own
limits. The license's dates stay: a time-limited license stays time-limited.

Revision ID: 0002_plans_b_terms
Revises: 0002_plans
"""

from alembic import op

revision = "0002_plans_b_terms"
down_revision = "0002_plans"
branch_labels = None
depends_on = None

SQL = r"""
-- SECURITY DEFINER so the reset also applies when the table owner (subject to forced RLS)
-- changes a plan by hand; it touches only the changed org's license row.
CREATE FUNCTION license_reset_terms() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE licenses SET seats = NULL, rate_limit_per_minute = NULL, updated_at = now()
   WHERE org_id = NEW.id;
  RETURN NULL;
END
$$;
ALTER FUNCTION license_reset_terms() OWNER TO tenantdesk_definer;
REVOKE ALL ON FUNCTION license_reset_terms() FROM PUBLIC;

CREATE TRIGGER organizations_plan_changed
  AFTER UPDATE OF plan ON organizations
  FOR EACH ROW WHEN (OLD.plan IS DISTINCT FROM NEW.plan)
  EXECUTE FUNCTION license_reset_terms();
"""


def upgrade() -> None:
    op.execute(SQL)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS organizations_plan_changed ON organizations;"
        " DROP FUNCTION IF EXISTS license_reset_terms();"
    )
