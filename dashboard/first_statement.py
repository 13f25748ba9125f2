"""A transaction's first statement (the RLS context, and what rides on it) sent straight
through psycopg (issue 20: the cost floor).

Every transaction starts with the context statement (``tenancy.py``); on a minimal signed-in
request it is the only one. Through SQLAlchemy's ``execute`` it cost more CPU than
PostgreSQL spent running it (parameter processing, the result object, and psycopg building
a description of every column, about 36, on each execution: SQLAlchemy reads it). Here the
same SQL, compiled by SQLAlchemy once, goes on the transaction's own DBAPI connection, and
the row comes back as a named tuple whose class is made once per statement.

The statement is the same and still the first of its transaction (psycopg sends its BEGIN
just before it, as for any statement); ``before_cursor_execute`` / ``after_cursor_execute``
listeners see it as any other (the statements-per-page test, tracing), and a database error
becomes SQLAlchemy's, with a lost connection invalidated as SQLAlchemy would.

(psycopg's pipeline mode would send the BEGIN in the same write, one round trip fewer; A/B'd
in-process it saved no CPU, app or database, so it is not used.)

With no cursor listener on the connection (production's case), the statement goes with ``$n``
placeholders, compiled once, through psycopg's ``RawCursor``: psycopg parses a ``%(name)s``
query for its placeholders on every execution once it is longer than 4,096 bytes (its cache
takes only shorter ones), ~0.1-0.15 ms for a check that carries a rider (issue 20,
session 11). Same statement, same parameters and types. With a listener (tests, tracing),
the query and its named parameters go as before: a listener may run its own statement
on the cursor with them.

Each pooled connection keeps a cursor per statement (``_cursor``): psycopg keeps a cursor's
adapters (the loader of each of the ~36 result columns, the parameters' dumpers) while it
runs the same query object again, instead of making them anew on every execution.
"""

from __future__ import annotations

from collections import namedtuple
from operator import methodcaller
from types import SimpleNamespace

from psycopg import RawCursor
from sqlalchemy import text

# SQL text -> (psycopg SQL, row class, the same SQL with $n placeholders, their names in order)
_COMPILED: dict[str, tuple[str, type | None, str, tuple[str, ...]]] = {}
_NUMBERED: dict[type, object] = {}  # dialect class -> the same dialect with $n placeholders
_AT_MOST = 200  # the statements are fixed in code; more would be a bug, not a workload


def first_row(connection, sql: str, params: dict, *, alone: bool = False):
    """Run ``sql`` as the first statement of ``connection``'s transaction; its one row.

    ``alone``: the statement is the whole transaction (``tenancy.begin_with``): psycopg sends
    it in autocommit mode, so PostgreSQL runs it as an implicit transaction of its own, with
    no BEGIN before it and nothing left open after it."""
    return _run(connection, sql, params, alone)


def all_rows(connection, sql: str, params: dict, *, alone: bool = False) -> list:
    """``first_row``, every row (a dedicated org's cell read: ``dedicated.read``)."""
    return _run(connection, sql, params, alone, every=True)


def row(session, sql: str, params: dict):
    """Run ``sql`` in ``session``'s transaction on the shared database (beginning it, with its
    context statement, if none is open); its first row, or None. For a hot text statement
    (the org switch's): what ``session.execute(text(sql), params).first()`` does, less the
    result machinery (as ``first_row``). Like that, it flushes no pending ORM object (text is
    not ORM)."""
    return _run(session.connection(), sql, params)


def rows(session, sql: str, params: dict) -> list:
    """``row``, every row: what ``session.execute(text(sql), params).all()`` gives."""
    return _run(session.connection(), sql, params, every=True)


def _run(connection, sql: str, params: dict, alone: bool = False, every: bool = False):
    known = _COMPILED.get(sql) or _compiled(sql, connection.dialect)
    query, row_class, numbered, names = known
    fairy = connection.connection
    raw = fairy.dbapi_connection
    events = connection._has_events or connection.engine._has_events
    # Kept by the text it runs and its kind: the named query on a cursor, the numbered one
    # on a RawCursor.
    cursor = _cursor(fairy, raw, query, _NAMED_CURSOR) if events \
        else _cursor(fairy, raw, numbered, RawCursor)
    context = SimpleNamespace()  # what execution listeners may note things on (tracing)
    try:
        if alone:
            raw.autocommit = True  # psycopg refuses it inside a transaction: none is open
        if events:
            # After the switch to autocommit: a listener that runs a statement of its own on
            # the cursor (tests EXPLAIN the page's statement) does not open a transaction
            # the switch would then refuse, and sees the connection as the statement will.
            for listener in connection.dispatch.before_cursor_execute:
                query, params = listener(connection, cursor, query, params, context, False)
            cursor.execute(query, params)
        else:
            cursor.execute(numbered, [params[name] for name in names])
        values = cursor.fetchall() if every else cursor.fetchone()
        if row_class is None:
            row_class = _remember(sql, known, cursor.description)
    except Exception as error:
        _forget_cursor(fairy, cursor)
        # SQLAlchemy's own handling: the same exception classes, and a dead connection is
        # invalidated (the pool replaces it) exactly as on any other statement.
        connection._handle_dbapi_exception(error, query, params, cursor, None)
        raise  # not reached: the call above raises
    finally:
        if alone:
            _end_autocommit(connection, raw)
    if events:
        for listener in connection.dispatch.after_cursor_execute:
            listener(connection, cursor, query, params, context, False)
    if every:
        return [row_class._make(v) for v in values]
    return None if values is None else row_class._make(values)


_CURSOR_KEY = "first_statement_cursors"
_NAMED_CURSOR = methodcaller("cursor")  # the connection's own cursor class


def _cursor(fairy, raw, query: str, make):
    """The pooled connection's cursor for ``query``, made on its first use. Kept in the pool's
    per-connection ``info`` (it lives as long as the DBAPI connection and is cleared when the
    pool replaces it), and only for the very connection it was made on. One per statement:
    a page whose statements take turns on one cursor would make the adapters anew each time."""
    kept = fairy.info.get(_CURSOR_KEY)
    if kept is None or kept[0] is not raw:
        kept = fairy.info[_CURSOR_KEY] = (raw, {})
    cursors = kept[1]
    key = (query, make)  # a statement with no parameter reads the same both ways
    cursor = cursors.get(key)
    if cursor is None or cursor.closed:
        if len(cursors) >= _AT_MOST:
            cursors.clear()
        cursor = cursors[key] = make(raw)
    return cursor


def _forget_cursor(fairy, cursor) -> None:
    """After an error the statement gets a new cursor next time: nothing carries over."""
    kept = fairy.info.get(_CURSOR_KEY)
    if kept is not None:
        for key, known in list(kept[1].items()):
            if known is cursor:
                del kept[1][key]
    cursor.close()


def _end_autocommit(connection, raw) -> None:
    """Back to transactions; a connection that cannot go back (it broke) is never pooled
    again: in autocommit, the next transaction's statements would not share its context."""
    try:
        raw.autocommit = False
    except Exception:
        connection.invalidate()


def _compiled(sql: str, dialect) -> tuple[str, None, str, tuple[str, ...]]:
    """(psycopg SQL, no row class yet, $n SQL, its parameter names) of ``sql``; a name used
    twice is one parameter, as psycopg makes it of a ``%(name)s`` query."""
    numbering = _NUMBERED.get(type(dialect))
    if numbering is None:
        numbering = _NUMBERED[type(dialect)] = type(dialect)(paramstyle="numeric_dollar")
    numbered = text(sql).compile(dialect=numbering)
    return (str(text(sql).compile(dialect=dialect)), None, str(numbered),
            tuple(numbered.positiontup))


def _remember(sql: str, known: tuple, description) -> type:
    row_class = namedtuple("Row", [column.name for column in description], rename=True)
    if len(_COMPILED) < _AT_MOST:
        _COMPILED[sql] = (known[0], row_class, known[2], known[3])
    return row_class
