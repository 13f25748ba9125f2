"""Usage events: no foreign-key trigger per event.

Revision ID: 0003_usage_b
Revises: 0003_usage

The RLS policy's WITH CHECK already pins every inserted event's org_id to the transaction's
current org, which the gate only returns while that org exists and is active; the org purge
deletes events before the org. The per-row foreign-key check added nothing to that and cost
a third of the ingestion statement (a trigger call and a KEY SHARE row lock per event), so it
goes. The rollup table keeps its foreign key: a handful of rows per batch.
"""

from alembic import op

revision = "0003_usage_b"
down_revision = "0003_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE usage_events DROP CONSTRAINT IF EXISTS usage_events_org_id_fkey")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE usage_events ADD CONSTRAINT usage_events_org_id_fkey"
        " FOREIGN KEY (org_id) REFERENCES organizations(id)"
    )
