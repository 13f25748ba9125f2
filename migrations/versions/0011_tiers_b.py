"""Isolation tiers: a move freezes only the org's cell tables, not the whole transaction.

Revision ID: 0011_tiers_b
Revises: 0011_tiers

While an org is being moved, a write to one of its cell tables (the rows being copied) is
refused with SQLSTATE 25006 by a statement-level trigger that the mover puts on every cell
table before it freezes an org (and ``tiers.schema.sync`` on every tenant schema's). RLS
confines a session's writes to its own org, so the trigger checks the transaction's org:
one primary-key look-up per write statement. Reads, sign-ins and writes to the control plane
(which does not move) go on during the move.
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0011_tiers_b"
down_revision = "0011_tiers"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE FUNCTION app_tier_refuse_frozen() RETURNS trigger
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM tenant_routes
              WHERE org_id = app_uuid(current_setting('app.org_id', true))
                AND state = 'moving') THEN
    RAISE EXCEPTION 'this organization is being moved: its data is read-only for a moment'
      USING ERRCODE = 'read_only_sql_transaction';
  END IF;
  RETURN NULL;
END
$$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in definer_function("app_tier_refuse_frozen()"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_tier_refuse_frozen() CASCADE")
