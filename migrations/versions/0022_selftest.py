"""Results of the live isolation self-test (dashboard/trust/selftest.py): counts only, no
tenant names or ids, so the public /trust page can show them.

Revision ID: 0022_selftest
Revises: 0001_foundation
"""

from alembic import op

revision = "0022_selftest"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE selftest_runs (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  started_at       timestamptz NOT NULL DEFAULT now(),
  tables_probed    integer NOT NULL,
  functions_probed integer NOT NULL,
  attempts         integer NOT NULL,
  leaks            integer NOT NULL,
  findings         text[] NOT NULL DEFAULT '{}',  -- "probe table: count", never data
  duration_ms      integer NOT NULL
);
CREATE INDEX selftest_runs_started_idx ON selftest_runs (started_at DESC);
REVOKE ALL ON selftest_runs FROM PUBLIC;
GRANT SELECT, INSERT ON selftest_runs TO tenantdesk_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS selftest_runs")
