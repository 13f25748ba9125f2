"""Usage event metadata: no foreign-key trigger per metadata row.

Revision ID: 0025_metadata_b
Revises: 0025_metadata

The same reasoning as 0003_usage_b for the events themselves: metadata rows are written by
the very statement that inserts their events (dashboard/usage/service.py), joined to the rows
it inserted, and the RLS policy's WITH CHECK pins their org to the transaction's org; the
org purge deletes every tenant table's rows of the org. The per-row check (a trigger call and
a KEY SHARE lock on the event row, per key) made a batch whose events carry two keys cost
about three times one without metadata (bench/README.md), so it goes.

Also: org metadata values get the database check the other metadata tables have (no control
characters), which the app has always enforced.
"""

from alembic import op

revision = "0025_metadata_b"
down_revision = "0025_metadata"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE usage_event_metadata"
               " DROP CONSTRAINT IF EXISTS usage_event_metadata_org_id_event_id_fkey")
    op.execute(r"ALTER TABLE org_metadata ADD CONSTRAINT org_metadata_value_printable"
               r" CHECK (value !~ '[\x01-\x1f\x7f]')")


def downgrade() -> None:
    op.execute("ALTER TABLE org_metadata DROP CONSTRAINT IF EXISTS org_metadata_value_printable")
    op.execute("ALTER TABLE usage_event_metadata ADD FOREIGN KEY (org_id, event_id)"
               " REFERENCES usage_events (org_id, id) ON DELETE CASCADE")
