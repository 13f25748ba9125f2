"""A live session is found by its user and its id in one index look-up (issue 20: the floor).

Every signed-in request checks its session row (``dashboard/auth/principal.py``): ``s.id =
<token's session id>`` and ``s.user_id = <token's user>`` (also the table's policy). The
planner took the partial index on ``(user_id, last_seen_at)`` (the smallest one leading with
the user) and filtered every live session of that user for the id, one heap row and the
filter's expressions each: the cost of a request grew with the user's live sessions (each
sign-in on a device adds one until it is revoked). With ``(user_id, id)`` both conditions
are index conditions: one entry, one heap row, whatever the count.

It replaces ``user_sessions_user_idx`` (``user_id``, same predicate): the new index leads
with the same column, so it serves every look-up that one did.

Revision ID: 0048_session_key_index
Revises: 0042_switch_one_call (the latest migration that touched user_sessions)
"""

from alembic import op

revision = "0048_session_key_index"
down_revision = "0042_switch_one_call"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX user_sessions_user_id_idx ON user_sessions (user_id, id)"
        " WHERE revoked_at IS NULL"
    )
    op.execute("DROP INDEX user_sessions_user_idx")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX user_sessions_user_idx ON user_sessions (user_id) WHERE revoked_at IS NULL"
    )
    op.execute("DROP INDEX user_sessions_user_id_idx")
