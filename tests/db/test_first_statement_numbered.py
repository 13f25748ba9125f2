"""first_statement sends a statement with $n placeholders (psycopg's RawCursor) when no cursor
listener is on, and as ``%(name)s`` with named parameters when one is: both give the same
row, for a name used twice, a literal %, a NULL and a statement longer than psycopg's
4,096-byte parse cache (issue 20, session 11)."""

from __future__ import annotations

from sqlalchemy import event

from dashboard import first_statement

# Padded past 4,096 bytes with a comment: the length at which psycopg stops caching its parse.
SQL = (
    "SELECT CAST(:a AS int) + CAST(:b AS int) + CAST(:a AS int) AS total,"
    " '5%' AS percent, CAST(:nothing AS text) IS NULL AS is_null, CAST(:a AS text) AS a_text"
    " /* " + "x" * 4200 + " */"
)
PARAMS = {"a": 20, "b": 2, "nothing": None, "unused": "ignored"}


def _row(engine):
    with engine.connect() as connection:
        return first_statement.first_row(connection, SQL, PARAMS, alone=True)


def test_numbered_and_named_statements_give_the_same_row(app):
    engine = app.extensions["tenantdesk.db"].engine
    numbered = _row(engine)
    seen = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        named = _row(engine)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(seen) == 1 and "%(a)s" in seen[0]  # the listener saw the named form
    assert tuple(numbered) == tuple(named) == (42, "5%", True, "20")
    assert numbered._fields == named._fields
