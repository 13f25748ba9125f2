"""Where an org's cell tables are read: the shared database, or the org's own (isolation
tiers, issue 18).

A session opens on the shared database, where the control plane and the gate live; its
context statement (``tenancy.py``) reads the org's route. ``TieredSession`` sends a statement
naming a dedicated org's cell tables to that org's database; ``read_cells`` reads them in one
self-committing statement there; ``cells_are_shared`` / ``cells_packable`` tell a caller
whether one statement may read them with the control plane's. Routes and services never
know the tier.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.tiers import dedicated, routing


class TieredSession(Session):
    """A session that opens on the shared database, where the control plane and the gate
    live; a statement naming a dedicated org's cell tables runs on the org's own database
    (dashboard/tiers/dedicated.py), in a transaction that commits or rolls back with the
    shared one (one after the other: no two-phase commit)."""

    def get_bind(self, mapper=None, *, clause=None, bind=None, **kw):
        chosen = super().get_bind(mapper, clause=clause, bind=bind, **kw)
        engines = self.info.get(tenancy.ENGINES_KEY)
        if bind is not None or engines is None or chosen is not self.bind:
            return chosen
        if mapper is None and clause is None:
            # ``session.connection()``: no statement names a table, so it is the shared
            # database's (what the checks below answer), which the caller begins itself.
            return chosen
        # The shared transaction begins first: its context statement says where the org is.
        shared = self.connection(bind_arguments={"bind": chosen})
        route = routing.route_of(self.info)
        if route is None or route.tier != "dedicated":
            return chosen
        if not dedicated.on_dedicated(dedicated.tables(shared), mapper, clause):
            return chosen
        return engines.get(route.connection_ref, route.pool_size)


def _dedicated_open(session: Session) -> bool:
    """Whether the session's transaction holds a transaction on the dedicated database."""
    opened = session.info.get(tenancy.DEDICATED_OPEN_KEY)
    current = session.get_transaction()
    return opened is not None and current is not None and opened() is current


def read_cells(session: Session, statement, params: dict) -> list:
    """The rows of a read (``text``) of the current org's cell tables: what
    ``session.execute(statement, params).all()`` gives, as tuples.

    For a dedicated org, the read is one self-committing statement on the org's database
    that carries its own context (``dedicated.read``) instead of a transaction of its own
    there (BEGIN, context, read, COMMIT): one statement and three round trips fewer. Not
    when that database is behind PgBouncer (its statement timeout is a connection setting)
    or the session's transaction already writes or reads there (one snapshot, its locks):
    then it runs in the session's transaction, as any statement. Routes and services never
    know the tier: on every other tier this is ``session.execute``."""
    bind = session.get_bind(clause=statement)  # begins the shared transaction: the route
    engines = session.info.get(tenancy.ENGINES_KEY)
    if (
        engines is None
        or bind is session.bind
        or not engines.owns(bind)
        or not engines.keeps_session_settings(bind)
        or _dedicated_open(session)
    ):
        return [tuple(row) for row in session.execute(statement, params)]
    return dedicated.read(
        bind,
        statement.text,
        params,
        tenancy.context_of(session).as_params(),
        routing.route_of(session.info),
    )


def cells_are_shared(session: Session) -> bool:
    """Whether one statement may read the org's cell tables together with the control plane's
    in this transaction: the org's cells are in the shared database (every tier but
    dedicated; tiers/catalogue.py). Callers need not know the tier (tiers/routing.py).

    Begins the session's transaction if none is open: its context statement reads the route.
    """
    session.connection()  # the shared one; open already on a request's session
    route = routing.route_of(session.info)
    return route is None or route.tier != "dedicated"


def cells_packable(session: Session) -> bool:
    """Whether a statement packed into the context statement (``begin_with``) may read the
    org's cell tables, by the route the session's latest context statement admitted: only
    on the shared tier. A statement's table names are resolved when it is parsed, before its
    own context statement sets a schema tier's ``search_path``: packed, it would read the
    shared schema's tables, not the org's (and a dedicated org's cells are elsewhere)."""
    route = routing.route_of(session.info)
    return route is None or route.tier == "shared"
