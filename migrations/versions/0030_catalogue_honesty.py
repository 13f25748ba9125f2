"""Catalogue honesty (issue 21): feature descriptions say what the code enforces.

"Advanced analytics" promised "longer usage history and breakdowns"; what the code gates is
usage history beyond 30 days (dashboard/usage/reports.py). Custom roles now say that creating
and editing them is what the plan gates (roles already held keep working).

Revision ID: 0030_catalogue_honesty
Revises: 0011_events
"""

from alembic import op

revision = "0030_catalogue_honesty"
down_revision = "0011_events"  # the webhooks and audit-streaming rows exist by then
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE features SET description = 'Usage history beyond 30 days: the 90- and"
        " 365-day charts, CSV and API series.' WHERE key = 'advanced-analytics';"
        " UPDATE features SET description = 'Create and edit roles with your own set of"
        " permissions.' WHERE key = 'custom-roles';"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE features SET description = 'Longer usage history and breakdowns.'"
        " WHERE key = 'advanced-analytics';"
        " UPDATE features SET description = 'Define roles with your own set of permissions.'"
        " WHERE key = 'custom-roles';"
    )
