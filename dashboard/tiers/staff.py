"""Staff view of an org's tier: route, limits, requests in flight, moves. No Flask here.

Reads go through the staff-only definer functions (no tenant rows); a move is *requested*
here (audited in the org's log, same transaction) and carried out by the owner role:
`tenantdesk tenants run-requested` (or `resume SLUG`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard.tiers import routing

MOVABLE = ("schema", "shared")


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


def request_move(session: Session, org_id: uuid.UUID, to: str) -> uuid.UUID:
    if to not in MOVABLE:
        raise MoveRefused("Choose the shared tier or a schema of its own.")
    try:
        with session.begin_nested():
            return session.execute(
                text("SELECT app_staff_request_move(:o, :t, NULL)"), {"o": org_id, "t": to}
            ).scalar_one()
    except DBAPIError as exc:
        if isinstance(exc.orig, pg_errors.UniqueViolation):
            raise MoveRefused("This organization already has a move under way.") from exc
        if isinstance(exc.orig, pg_errors.CheckViolation):
            raise MoveRefused(str(exc.orig.diag.message_primary)) from exc
        raise
