"""THE one place that sets the row-level security context of a transaction.

Every transaction a Tenantdesk session opens starts with::

    set_config('app.user_id', ..., true), set_config('app.org_id', ..., true), ...

``true`` makes the settings transaction-local, so a pooled connection never carries a tenant
into the next transaction. Values travel as bound parameters, never as SQL text. With no
context, the database gate ``app_current_org()`` is NULL and every tenant table reads empty.

What kind each table is: ``table_kinds.py``. Where a dedicated org's cell tables are read:
``cell_reads.py``.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

from dashboard.first_statement import all_rows, first_row
from dashboard.tiers import dedicated, routing

_CONTEXT_KEY = "tenant_context"
_FIRST_KEY = "first_query"  # (sql, params) riding on the context statement (begin_with)
_FIRST_ROW_KEY = "first_row"
# The same statement reads the org's route (tier, limits, move state) and applies it
# transaction-locally: search_path, statement_timeout (dashboard/tiers/routing.py).
_CONTEXT_SELECT = (
    "SELECT set_config('app.user_id', :user_id, true),"
    " set_config('app.org_id', :org_id, true),"
    " set_config('app.credential_id', :credential_id, true),"
    " set_config('app.provider_id', :provider_id, true),"
    + routing.CONTEXT_COLUMNS
    + routing.CONTEXT_FROM
)
_ROUTE_COLUMNS = ("tier", "revision", "state", "max_concurrent", "timeout_ms", "connection_ref",
                  "pool_size", "ticket")  # what routing.admit reads
# A subquery with set_config is never merged into the outer query, so it still runs once.
_SET_CONTEXT_SQL = f"SELECT {', '.join(_ROUTE_COLUMNS)} FROM ({_CONTEXT_SELECT}) AS ctx"
_CONTEXT_SELECT_NO_TICKET = _CONTEXT_SELECT.replace(
    routing.TICKET_COLUMN, routing.NO_TICKET_COLUMN
)
_PACKED: dict[tuple[str, bool], str] = {}


def _packed_sql(sql: str, ticket: bool = True) -> str:
    """The context statement with ``sql`` after it, in one statement (one round trip).

    ``sql`` runs only once the context is set: the context is a MATERIALIZED CTE, the outer
    side of a LEFT JOIN LATERAL ... ON true, which PostgreSQL can only run as a nested loop
    that reads its one outer row (so runs every set_config) before it runs the inner query
    (OFFSET 0 keeps it a query of its own, not merged into the join). Were it ever run first,
    it would see no context: every row-level-security check fails closed (no row).

    ``ticket``: False for a transaction that cannot reach a dedicated database (no ticket
    minted; the route's ticket is None)."""
    packed = _PACKED.get((sql, ticket))
    if packed is None:
        context = _CONTEXT_SELECT if ticket else _CONTEXT_SELECT_NO_TICKET
        packed = _PACKED[(sql, ticket)] = (
            f"WITH ctx AS MATERIALIZED ({context})"
            f" SELECT {', '.join('ctx.' + c for c in _ROUTE_COLUMNS)},"
            f" q.* FROM ctx LEFT JOIN LATERAL"
            f" (SELECT true AS first_found, f.* FROM ({sql}) AS f OFFSET 0) AS q ON true"
        )
    return packed


@dataclass(frozen=True)
class TenantContext:
    """Who a transaction acts for. All None: nobody (zero tenant rows)."""

    user_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    credential_id: uuid.UUID | None = None  # an org API key, SCIM token or export credential
    provider_id: uuid.UUID | None = None  # a partner calling the provisioning API

    def as_params(self) -> dict[str, str]:
        return {
            "user_id": _text(self.user_id),
            "org_id": _text(self.org_id),
            "credential_id": _text(self.credential_id),
            "provider_id": _text(self.provider_id),
        }


NOBODY = TenantContext()


_TEXTS: dict[str, str] = {}  # a token's id text -> its canonical text (issue 20: the floor)
_TEXTS_AT_MOST = 4096


def _text(value: uuid.UUID | str | None) -> str:
    # Anything that is not a UUID becomes '' and the gate reads it as "no context".
    if value is None:
        return ""
    if type(value) is str:
        # The same few ids (the token's user and org) arrive as text on every request:
        # parsed once per process, not four times per request. The answer depends on the
        # text alone.
        known = _TEXTS.get(value)
        if known is None:
            known = _canonical(value)
            if len(_TEXTS) >= _TEXTS_AT_MOST:
                _TEXTS.clear()
            _TEXTS[value] = known
        return known
    return _canonical(value)


canonical_id = _text  # the canonical text of a UUID, or '' for anything else


def _canonical(value) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return ""


def context_of(session: Session) -> TenantContext:
    return session.info.get(_CONTEXT_KEY, NOBODY)


def bind(session: Session, context: TenantContext) -> None:
    """Make ``context`` apply from the session's next transaction on.

    A transaction already open is committed first: a context never changes mid-transaction.
    """
    if session.in_transaction():
        session.commit()
    session.info[_CONTEXT_KEY] = context


ENGINES_KEY = "dedicated_engines"  # the session's DedicatedEngines (cell_reads.py)
DEDICATED_OPEN_KEY = "dedicated_transaction"  # the root transaction that reached it


def _root(transaction):
    while transaction.parent is not None:
        transaction = transaction.parent
    return transaction


@event.listens_for(Session, "after_begin")
def _apply_context(session: Session, transaction, connection) -> None:
    params = context_of(session).as_params()
    engines = session.info.get(ENGINES_KEY)
    if engines is not None and engines.owns(connection.engine):
        # A dedicated org's database: the same context, with the shared gate's verdict.
        dedicated.apply_context(connection, params, routing.route_of(session.info))
        session.info[DEDICATED_OPEN_KEY] = weakref.ref(_root(transaction))
        return
    first = session.info.pop(_FIRST_KEY, None)
    if first is None:
        row = first_row(connection, _SET_CONTEXT_SQL, params)
    else:
        row = _packed_row(connection, *first, params)
        session.info[_FIRST_ROW_KEY] = row if row.first_found else None
    routing.admit(session.info, row, params["org_id"])


def _packed_row(connection, sql: str, first_params: dict, context: dict, *,
                alone: bool = False, ticket: bool = True):
    """``sql`` packed into the context statement (``begin_with``), run; its one row."""
    return first_row(connection, _packed_sql(sql, ticket), {**first_params, **context},
                     alone=alone)


def begin_with(session: Session, sql: str, params: dict, *, alone: bool = False):
    """Begin the session's next transaction with ``sql`` packed into the context statement
    (one statement, one round trip instead of two) and return its first row, or None.

    ``sql`` runs under the transaction's context exactly as it would as the transaction's
    first statement; its parameters must not be named like the context's (user_id, org_id,
    credential_id, provider_id). A transaction already open is committed first (``bind``).

    ``alone``: the statement is the whole transaction (``sql`` reads, or makes all of its
    caller's writes, as the org switch's one function call; the caller wants nothing else in
    the same transaction). It runs as PostgreSQL's implicit transaction of a single statement,
    without BEGIN and COMMIT (two round trips fewer), committed when it returns; its context
    is local to it as always. The session's next use begins a new transaction, with its own
    context statement.
    """
    if session.in_transaction():
        session.commit()
    if alone:
        return _alone(session, sql, params)
    session.info[_FIRST_KEY] = (sql, params)
    try:
        session.connection()  # begins: _apply_context runs the packed statement
    finally:
        session.info.pop(_FIRST_KEY, None)
    return session.info.pop(_FIRST_ROW_KEY, None)


def rows_alone(session: Session, sql: str, params: dict) -> list:
    """``begin_with(alone=True)`` for a statement of many rows: every row of ``sql``, in its
    order (empty when it found none). The same context statement, checks and admission as
    ``begin_with``; the rows also carry the context's columns (named as ``_ROUTE_COLUMNS``,
    so ``sql``'s own must not be) and ``first_found``."""
    if session.in_transaction():
        session.commit()
    context = context_of(session).as_params()
    with session.get_bind().connect() as connection:
        rows = all_rows(connection, _packed_sql(sql, False), {**params, **context}, alone=True)
    # The context's one row, joined to each of sql's rows (or to none: one row, first_found
    # NULL): never no row at all.
    routing.admit(session.info, rows[0], context["org_id"])
    return [row for row in rows if row.first_found]


def _alone(session: Session, sql: str, params: dict):
    """``begin_with(alone=True)``: the packed statement on a pooled connection of the shared
    database, outside the session's transaction machinery (nothing of it is used: no ORM
    object, no later statement shares the transaction). What ``_apply_context`` does for a
    transaction of the shared database, the same statement and the same admission."""
    return _alone_on(session.get_bind(), session.info, context_of(session), sql, params)


def _alone_on(engine, info: dict, context: TenantContext, sql: str, params: dict):
    """``_alone`` on ``engine`` (the shared database), admitting the route into ``info``."""
    context_params = context.as_params()
    with engine.connect() as connection:
        # One statement on the shared database is all of it: no dedicated one, no ticket.
        row = _packed_row(connection, sql, params, context_params, alone=True, ticket=False)
    routing.admit(info, row, context_params["org_id"])
    return row if row.first_found else None


@contextmanager
def scoped_session(factory, context: TenantContext) -> Iterator[Session]:
    """A session acting for ``context``; commits on success, rolls back on error."""
    session = factory()
    session.info[_CONTEXT_KEY] = context
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# ------------------------------------------------------------------------ per web request
# The request's session is bound to ``g.tenant_context`` (set by the sign-in loader). It is
# committed before the response leaves when the response is a success, rolled back otherwise,
# so a refused request changes nothing.


# What a request's statements admitted (its route, its slot under the org's concurrency cap)
# while it has no ORM session yet (``request_alone``): the session, once made, takes it over.
_REQUEST_INFO = "db_info"


def request_session() -> Session:
    from flask import current_app, g

    # Called several times a request: g is read through its proxy once.
    request_g = g._get_current_object()
    session = request_g.get("db_session")
    if session is None:
        session = current_app.extensions["tenantdesk.db"].sessionmaker()
        admitted = request_g.pop(_REQUEST_INFO, None)
        if admitted is not None:  # the route and slot of a statement that ran alone before
            session.info.update(admitted)
        session.info[_CONTEXT_KEY] = request_g.get("tenant_context", NOBODY)
        session.info[routing.REQUEST_KEY] = True  # counts against the org's concurrency cap
        request_g.db_session = session
    return session


def request_info(request_g) -> dict | None:
    """The request's admission (``routing.route_of`` reads it): its session's, or what a
    statement that ran alone admitted before any session was made; None: neither."""
    session = request_g.get("db_session")
    return session.info if session is not None else request_g.get(_REQUEST_INFO)


def _refuse_foreign_org(request_g, context: TenantContext) -> None:
    # On an org's own host (dashboard/hosts) no transaction may act for another org: 404.
    from flask import abort

    host_org = request_g.get("host_org_id")
    if host_org is not None and context.org_id is not None \
            and _text(context.org_id) != _text(host_org):
        abort(404)


def bind_request(context: TenantContext) -> Session:
    """Switch the request's session to ``context`` (used at sign-in and org switch).

    On an org's own host (dashboard/hosts) no transaction may act for another org: 404.
    """
    from flask import g

    request_g = g._get_current_object()
    _refuse_foreign_org(request_g, context)
    request_g.tenant_context = context
    session = request_session()
    bind(session, context)
    return session


def bind_request_lazily(context: TenantContext) -> None:
    """``bind_request`` without making the request's session when it has none yet: the
    session made later (``request_session``) acts for ``g.tenant_context``, this context.
    The same refusal of another org on an org's own host."""
    from flask import g

    request_g = g._get_current_object()
    _refuse_foreign_org(request_g, context)
    request_g.tenant_context = context
    session = request_g.get("db_session")
    if session is not None:
        bind(session, context)


def request_alone(context: TenantContext, sql: str, params: dict):
    """``begin_with(bind_request(context), sql, params, alone=True)`` for a request whose
    first statement this is, without an ORM session (issue 20: the floor): nothing of one is
    used by a statement that is its own transaction. The same host refusal, the same packed
    statement under ``context`` on a pooled connection of the shared database, the same
    admission (route, concurrency slot: released at the request's end, or taken over by the
    session the request makes later). With a session already made, it is ``begin_with``."""
    from flask import current_app, g

    request_g = g._get_current_object()
    if request_g.get("db_session") is not None:
        return begin_with(bind_request(context), sql, params, alone=True)
    bind_request_lazily(context)
    info = request_g.get(_REQUEST_INFO)
    if info is None:
        info = request_g.db_info = {routing.REQUEST_KEY: True}
    engine = current_app.extensions["tenantdesk.db"].engine
    return _alone_on(engine, info, context, sql, params)


def init_app(app) -> None:
    from flask import g

    @app.after_request
    def _finish(response):
        admitted = g.pop(_REQUEST_INFO, None)  # statements that ran alone, with no session
        if admitted is not None:
            routing.release(admitted)
        session = g.pop("db_session", None)
        if session is not None:
            try:
                if not session.in_transaction():
                    pass  # nothing open (the request's one statement was alone: begin_with)
                elif response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            finally:
                routing.release(session.info)
                session.close()
        return response

    @app.teardown_request
    def _discard(exc):
        admitted = g.pop(_REQUEST_INFO, None)
        if admitted is not None:
            routing.release(admitted)
        session = g.pop("db_session", None)
        if session is not None:
            routing.release(session.info)
            session.rollback()
            session.close()
