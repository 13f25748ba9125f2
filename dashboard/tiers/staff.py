"""Staff view of an org's tier: route, limits, requests in flight, moves. No Flask here.

Reads go through the staff-only definer functions (no tenant rows); a move is *requested*
here (audited in the org's log, same transaction) and carried out by the owner role:
`tenantdesk tenants run-requested` (or `resume SLUG`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard.tiers import routing

MOVABLE = ("schema", "shared", "dedicated")
TARGET = re.compile(r"^[A-Z][A-Z0-9_]{0,62}$")  # as app_staff_request_move checks it


class MoveRefused(ValueError):
    pass


@dataclass(frozen=True)
class TierView:
    tier: str
    schema_name: str | None
    connection_ref: str | None
    revision: str
    state: str
    statement_timeout_ms: int | None
    max_concurrent_requests: int | None
    pool_size: int | None
    in_flight: int
    behind: bool
    moves: list


def view(session: Session, org_id: uuid.UUID) -> TierView | None:
    row = session.execute(text("SELECT * FROM app_staff_tenant_tier(:o)"), {"o": org_id}).first()
    if row is None:
        return None
    moves = session.execute(
        text("SELECT * FROM app_staff_tenant_moves(:o)"), {"o": org_id}
    ).all()
    required = routing.required_revision()
    revision = row.revision if row.tier != "shared" else required
    return TierView(
        tier=row.tier, schema_name=row.schema_name, connection_ref=row.connection_ref,
        revision=revision or "-", state=row.state,
        statement_timeout_ms=row.statement_timeout_ms,
        max_concurrent_requests=row.max_concurrent_requests, pool_size=row.pool_size,
        in_flight=routing.CAP.in_flight(str(org_id)), behind=revision != required,
        moves=moves,
    )


def target_problem(to: str, target: str | None) -> str | None:
    """What is wrong with the connection named for a move to ``to``, for a person; else None."""
    if to != "dedicated":
        return "Only a move to a database of its own names a connection." if target else None
    if target is None or not TARGET.fullmatch(target):
        return ("Name the environment variable that holds the dedicated database's URL:"
                " capital letters, digits and _, starting with a letter (e.g. TENANT_DB_ACME).")
    return None


def request_move(session: Session, org_id: uuid.UUID, to: str,
                 target: str | None = None) -> uuid.UUID:
    if to not in MOVABLE:
        raise MoveRefused("Choose the shared tier, a schema or a database of its own.")
    if target_problem(to, target):
        raise MoveRefused(target_problem(to, target))
    try:
        with session.begin_nested():
            return session.execute(
                text("SELECT app_staff_request_move(:o, :t, :r)"),
                {"o": org_id, "t": to, "r": target},
            ).scalar_one()
    except DBAPIError as exc:
        if isinstance(exc.orig, pg_errors.UniqueViolation):
            raise MoveRefused("This organization already has a move under way.") from exc
        if isinstance(exc.orig, pg_errors.CheckViolation):
            raise MoveRefused(str(exc.orig.diag.message_primary)) from exc
        raise
