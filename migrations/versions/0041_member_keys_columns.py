"""A membership's copies of its person (sort and search keys, name, email) are recomputed only
when a statement names them or the person (issue 20).

The row trigger ran on every UPDATE of a membership, e.g. the org switch's ``last_active_at``
touch (~70 µs of the switch's database time, recomputing copies nobody changed). It now fires on
INSERT and on an UPDATE whose SET list names ``user_id`` or one of the copies: a writer who tries
to put its own values in names that column, so the trigger still overwrites them from ``users``
(tests/db/test_members_order.py tries each column).

Revision ID: 0041_member_keys_columns
Revises: 0040_member_display_copy
"""

from alembic import op

revision = "0041_member_keys_columns"
down_revision = "0040_member_display_copy"
branch_labels = None
depends_on = None

_TRIGGER = """
DROP TRIGGER memberships_person_keys ON memberships;
CREATE TRIGGER memberships_person_keys
  BEFORE INSERT OR UPDATE {columns}ON memberships
  FOR EACH ROW EXECUTE FUNCTION app_membership_person_keys();
"""


def upgrade() -> None:
    op.execute(_TRIGGER.format(
        columns="OF user_id, sort_name, search_key, person_name, person_email "))


def downgrade() -> None:
    op.execute(_TRIGGER.format(columns=""))
