"""An org's route, read inside the very statement that sets the RLS context.

``tenancy.py`` appends ``CONTEXT_COLUMNS``/``CONTEXT_FROM`` to its ``set_config`` statement, so
at the start of every transaction, in the same round trip, PostgreSQL:

- looks the org up in ``tenant_routes`` (``app_tenant_route``; no row = shared tier),
- sets ``search_path`` transaction-locally to the org's schema first (schema tier), so the
  unqualified cell tables resolve there and everything else to ``public``,
- sets ``statement_timeout`` to the org's (or its plan's) budget,
- takes a shared advisory lock on the org (a move's barrier waits on it),
- for a dedicated org, mints the shared gate's signed verdict (``app_tier_ticket()``) that
  the org's own database checks (``dedicated.py``).

While the org is being moved, its writes to cell tables are refused by a statement trigger
(SQLSTATE 25006, answered as 503 + Retry-After; migration 0011_tiers_b); the route's state
shows the banner.

Nothing is cached in the process, so a move's switch applies to every worker on its next
transaction. Then ``admit`` refuses a tier whose schema is behind the code's revision, and
counts the org's concurrent requests against its cap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

# A dedicated org's database cannot read the gate's inputs: it gets the verdict, signed.
TICKET_COLUMN = " CASE WHEN r.tier = 'dedicated' THEN app_tier_ticket() END AS ticket,"
# For a transaction that cannot reach a dedicated database (one statement alone on the
# shared one: tenancy.begin_with): no ticket minted (the gate and a keyed hash, issue 20).
NO_TICKET_COLUMN = " NULL::text AS ticket,"
CONTEXT_COLUMNS = (
    " r.tier AS tier, r.revision AS revision, r.state AS state,"
    " r.max_concurrent_requests AS max_concurrent, r.statement_timeout_ms AS timeout_ms,"
    " r.connection_ref AS connection_ref, r.pool_size AS pool_size,"
    + TICKET_COLUMN
    + " set_config('search_path', coalesce(r.search_path, current_setting('search_path')), true),"
    " set_config('statement_timeout',"
    "   coalesce(r.statement_timeout_ms::text, current_setting('statement_timeout')), true),"
    # Every transaction of an org holds this shared lock: a move's barrier takes it exclusively
    # to wait for the transactions that began before the org went read-only.
    " CASE WHEN r.tier IS NOT NULL"
    "   THEN pg_advisory_xact_lock_shared(7243003, hashtext(:org_id)) END"
)
CONTEXT_FROM = " FROM (SELECT 1) AS one LEFT JOIN app_tenant_route(app_uuid(:org_id)) AS r ON true"

ROUTE_KEY = "tier_route"
SLOT_KEY = "tier_slot"
REQUEST_KEY = "tier_request"


@dataclass(frozen=True)
class Route:
    tier: str
    revision: str | None
    state: str
    max_concurrent: int
    timeout_ms: int
    connection_ref: str | None = None
    pool_size: int | None = None
    ticket: str | None = None

    @property
    def read_only(self) -> bool:
        return self.state == "moving"


class TierBehind(RuntimeError):
    """The org's tier has not been migrated to the revision this code needs."""


class TooManyRequests(RuntimeError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} concurrent requests for this organization")
        self.limit = limit


@lru_cache(maxsize=1)
def required_revision() -> str:
    """The heads of the code's migrations: what every tier must be at to be served."""
    from alembic.script import ScriptDirectory

    from dashboard.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(""))
    return ",".join(sorted(script.get_heads()))


class ConcurrencyCap:
    """Requests in flight per org in this process; past the org's cap: 429."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}

    def enter(self, org: str, limit: int) -> None:
        with self._lock:
            current = self._in_flight.get(org, 0)
            if current >= limit:
                raise TooManyRequests(limit)
            self._in_flight[org] = current + 1

    def leave(self, org: str) -> None:
        with self._lock:
            left = self._in_flight.get(org, 1) - 1
            if left <= 0:
                self._in_flight.pop(org, None)
            else:
                self._in_flight[org] = left

    def in_flight(self, org: str) -> int:
        with self._lock:
            return self._in_flight.get(org, 0)


CAP = ConcurrencyCap()


def admit(info: dict, row, org_id: str) -> None:
    """Called by tenancy with the context statement's row, at the start of a transaction."""
    if row.tier is None:
        info.pop(ROUTE_KEY, None)
        return
    route = Route(row.tier, row.revision, row.state, row.max_concurrent, row.timeout_ms,
                  row.connection_ref, row.pool_size, row.ticket)
    info[ROUTE_KEY] = route
    if route.tier != "shared" and route.revision != required_revision():
        raise TierBehind(org_id)
    if info.get(REQUEST_KEY) and info.get(SLOT_KEY) is None:
        CAP.enter(org_id, route.max_concurrent)
        info[SLOT_KEY] = org_id


def release(info: dict) -> None:
    # The request is over: a transaction its session opens later (a streamed download reads
    # its rows after the response started) must not take a slot nobody would give back.
    info.pop(REQUEST_KEY, None)
    org = info.pop(SLOT_KEY, None)
    if org is not None:
        CAP.leave(org)


def route_of(info: dict) -> Route | None:
    return info.get(ROUTE_KEY)
