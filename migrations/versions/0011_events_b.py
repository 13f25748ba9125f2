"""Events: an index for deliveries by event (the outbox's foreign key and retention).

Revision ID: 0011_events_b
Revises: 0011_events
"""

from alembic import op

revision = "0011_events_b"
down_revision = "0011_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX event_deliveries_by_event ON event_deliveries (org_id, outbox_seq)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS event_deliveries_by_event")
