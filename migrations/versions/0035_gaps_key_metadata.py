"""API keys' metadata can be replaced through the JSON API (issue 25 gap): the runtime role
may now delete a key's metadata rows of the current org (``PATCH /api/v1/api-keys/<id>``
replaces the whole map, like members'). Still no UPDATE: a replacement deletes and inserts.

Revision ID: 0035_gaps_key_metadata
Revises: 0025_metadata
"""

from alembic import op

from dashboard.provisioning import APP_ROLE
from dashboard.rls_sql import GATE

revision = "0035_gaps_key_metadata"
down_revision = "0025_metadata"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"ALTER POLICY api_key_metadata_delete ON api_key_metadata"
               f" USING (org_id = {GATE})")
    op.execute(f"GRANT DELETE ON api_key_metadata TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE DELETE ON api_key_metadata FROM {APP_ROLE}")
    op.execute("ALTER POLICY api_key_metadata_delete ON api_key_metadata USING (false)")
