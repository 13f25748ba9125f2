"""Usage event metadata: no foreign-key trigger per metadata row.

Revision ID: 0025_metadata_b
Revises: 0025_metadata

The same reasoning as 0003_usage_b for the events themselves: metadata rows are written by
the very statement that inserts their events (dashboard/usage/service.py), joined to the rows
it inserted, and the RLS policy's WITH CHECK pins their org to the transaction's org; the
org purge deletes every tenant table's rows of the org. The per-row check (a trigger call and
a KEY SHARE lock on the event row, per key) made a batch whose events carry two keys cost
about three times one without metadata (bench/README.md), so it goes.
"""

from alembic import op

revision = "0025_metadata_b"
down_revision = "0025_metadata"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE usage_event_metadata"
               " DROP CONSTRAINT IF EXISTS usage_event_metadata_org_id_event_id_fkey")


def downgrade() -> None:
    op.execute("ALTER TABLE usage_event_metadata ADD FOREIGN KEY (org_id, event_id)"
               " REFERENCES usage_events (org_id, id) ON DELETE CASCADE")
