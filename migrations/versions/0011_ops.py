"""Operations: the runtime role may read alembic_version, so /readyz can tell whether the
database is at the revisions this code needs (migration bookkeeping, no tenant data).

Revision ID: 0011_ops
Revises: 0001_foundation
"""

from alembic import op

revision = "0011_ops"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("GRANT SELECT ON alembic_version TO tenantdesk_app")


def downgrade() -> None:
    op.execute("REVOKE SELECT ON alembic_version FROM tenantdesk_app")
