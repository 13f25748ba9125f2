"""``app_switch_session`` finds the old session by its user and its id (issue 20: the floor).

The function's UPDATE of the old session (``WHERE id = p_old AND user_id = p_uid AND
revoked_at IS NULL AND last_seen_at > now() - p_idle``) runs, after five calls, on PL/pgSQL's
generic plan. With the idle test an index condition, the planner may take the partial
``(user_id, last_seen_at)`` index and filter every live session of the user (and each entry
a revoked session left there until vacuum) for the id; on the benchmark's database it does.
Written ``(last_seen_at > now() - p_idle) IS TRUE`` (the same verdict: last_seen_at is NOT
NULL, and a WHERE keeps only true either way), it is a filter on the one row the
``(user_id, id)`` index (0048) finds. The session check took the same shape
(dashboard/auth/principal.py).

Nothing else changes in the function: the same signature, the same body but that line.

The ``(user_id, last_seen_at)`` index goes: with the idle test a filter it still offered the
user alone, and where the planner estimates about one live session per user (a generic plan
knows no user) both indexes look like one row and the smaller on disk wins, so the check could
still filter a user's live sessions for the id (seen on the test database). Every look-up by
user is served by 0048's ``(user_id, id)`` index (same predicate, same leading column); the
one ordered by ``last_seen_at`` (the account page's list of one's own live sessions) sorts a
handful of rows. Then the session check and this UPDATE can only find the session by its id.

Revision ID: 0050_switch_session_key
Revises: 0049_switch_checks_caller
"""

from alembic import op

from dashboard.migrate import revision_module

revision = "0050_switch_session_key"
down_revision = "0049_switch_checks_caller"
branch_labels = None
depends_on = None

OLD_IDLE_TEST = "       AND last_seen_at > now() - p_idle\n"
NEW_IDLE_TEST = "       AND (last_seen_at > now() - p_idle) IS TRUE\n"


def _switch(idle_test: str) -> str:
    sql = revision_module("0049_switch_checks_caller").SWITCH
    assert sql.count(OLD_IDLE_TEST) == 1 and sql.count("CREATE FUNCTION") == 1
    return sql.replace(OLD_IDLE_TEST, idle_test).replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


SWITCH = _switch(NEW_IDLE_TEST)


def upgrade() -> None:
    op.execute(SWITCH)
    op.execute("DROP INDEX user_sessions_user_seen_idx")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX user_sessions_user_seen_idx ON user_sessions (user_id, last_seen_at DESC)"
        " WHERE revoked_at IS NULL"
    )
    op.execute(_switch(OLD_IDLE_TEST))
