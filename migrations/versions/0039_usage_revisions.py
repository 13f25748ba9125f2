"""A per-org revision of the usage rollups, so pages can cache what they draw from them.

Revision ID: 0039_usage_revisions
Revises: 0037_gaps_host_sessions

``usage_revisions`` holds one counter per org, raised by the ingest statement
(dashboard/usage/service.py) in the very statement that writes ``usage_daily``. Its row lock
makes concurrent batches of one org raise it one after the other, in commit order, so a
reader that sees revision n in a snapshot sees exactly the rollups of revision n, and any
later change to them commits a higher one. Chart data and charts are cached per (org, range,
quotas, revision) (dashboard/usage/cache.py); the revision is read under RLS in the same
statement as the rollups.

The charts' rows come from a covering index, ``usage_daily_chart (org_id, metric, day)
INCLUDE (total)``: an index-only scan of ~15 pages instead of a heap page per row (an org's
rollups are spread over the table: 1,237 buffers and 2.7 ms for a 365-day report of the
benchmark's org; 27 buffers and 0.4 ms with it). Updates of a rollup's total are no longer
HOT, so each ingest writes one more index entry per rollup row it touches.

A tenant table (a cell table: it moves with usage_daily between tiers). The app may insert
and update it, never delete it. Orgs that already have rollups start at revision 1.
"""

from alembic import op

from dashboard.rls_sql import tenant_table

revision = "0039_usage_revisions"
down_revision = "0037_gaps_host_sessions"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE usage_revisions (
  org_id   uuid PRIMARY KEY REFERENCES organizations(id),
  revision bigint NOT NULL CHECK (revision > 0)
);
-- The backfill reads every org's rollups: the owner lifts FORCE for it, in this
-- transaction only (DDL is transactional: no other session sees usage_daily unforced).
ALTER TABLE usage_daily NO FORCE ROW LEVEL SECURITY;
INSERT INTO usage_revisions (org_id, revision)
  SELECT DISTINCT org_id, 1 FROM usage_daily;
ALTER TABLE usage_daily FORCE ROW LEVEL SECURITY;

CREATE INDEX usage_daily_chart ON usage_daily (org_id, metric, day) INCLUDE (total);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in tenant_table(
        "usage_revisions", grants="SELECT, INSERT, UPDATE", delete=False
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS usage_daily_chart")
    op.execute("DROP TABLE IF EXISTS usage_revisions")
