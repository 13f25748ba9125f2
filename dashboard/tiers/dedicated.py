"""Dedicated databases: where a dedicated org's cell tables live, and how a session reaches them.

Design (README, "Isolation tiers"):

- A dedicated database has the whole schema (the same Alembic migrations, the same roles,
  the same forced RLS policies); only its cell tables hold rows, and only the org's.
  Foreign keys from cell tables to the control plane (organizations, users, invitations)
  are dropped there: those rows live in the shared database, which the move's verification
  and the gate stand for.
- The control plane (people, memberships, credentials, the gate's inputs) stays shared. The
  request's session opens on the shared database; a statement that names a cell table of a
  dedicated org goes to the org's database (``statement_target``), on a connection whose
  transaction starts with the same context plus the shared gate's signed verdict
  (``app_tier_ticket()``, migration 0025). Its ``app_current_org()`` (``GATE_SQL``) admits
  exactly that org for exactly that principal until the ticket's expiry — a fresh ticket per
  transaction, so removal or suspension cuts it on the next one.
- A read of the org's cells that needs nothing else of that database's transaction is one
  self-committing statement carrying its own context (``read``, through
  ``cell_reads.read_cells``): no BEGIN, context statement or COMMIT there.
- A statement naming cell *and* control tables cannot run on either side: it is refused
  (``CrossDatabaseStatement``), never answered from half the data.
- Engines: one per database, created on first use, bounded (``pool_size``, no overflow),
  pinged only after sitting idle (like the shared one), disposed after ``IDLE_SECONDS``
  unused. The URL comes from the environment variable the
  route names (``connection_ref``); the owner's (migrations, moves) from ``<NAME>_OWNER``,
  else the same URL with the owner role and no password.
"""

from __future__ import annotations

import os
import re
import threading
import time

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import util as sql_util
from sqlalchemy.sql.elements import TextClause

from dashboard.first_statement import all_rows, first_row
from dashboard.provisioning import APP_ROLE, DEFINER_ROLE, OWNER_ROLE, sqlalchemy_url
from dashboard.tiers import catalogue
from dashboard.tiers.catalogue import quote

REF = re.compile(r"[A-Z][A-Z0-9_]{0,62}")
IDLE_SECONDS = 300.0
DEFAULT_POOL = 5


class DedicatedUnavailable(RuntimeError):
    """The route names an environment variable that is not set (or not a database URL)."""


class CrossDatabaseStatement(RuntimeError):
    """One statement names tables of the shared control plane and of a dedicated database."""


def checked_ref(ref: str | None) -> str:
    if not ref or not REF.fullmatch(ref):
        raise DedicatedUnavailable(f"{ref!r} is not the name of an environment variable")
    return ref


def runtime_url(ref: str) -> str:
    value = os.environ.get(checked_ref(ref))
    if not value:
        raise DedicatedUnavailable(f"environment variable {ref} (a dedicated database) is unset")
    return sqlalchemy_url(value).render_as_string(hide_password=False)


def owner_url(ref: str) -> str:
    explicit = os.environ.get(f"{checked_ref(ref)}_OWNER")
    if explicit:
        return sqlalchemy_url(explicit).render_as_string(hide_password=False)
    url = sqlalchemy_url(runtime_url(ref)).set(username=OWNER_ROLE, password=None)
    return url.render_as_string(hide_password=False)


# ------------------------------------------------------------------------ engines per database


class Engines:
    """The runtime role's engines, one per dedicated database (keyed by the variable name)."""

    def __init__(
        self,
        connect_args: dict | None = None,
        idle_seconds: float = IDLE_SECONDS,
        on_create=None,
        pooler: str = "auto",
    ):
        self._lock = threading.Lock()
        self._engines: dict[str, Engine] = {}
        self._pooler = pooler  # DATABASE_POOLER: whether a URL goes through PgBouncer
        self._behind_pgbouncer: dict[Engine, bool] = {}
        self._last_used: dict[str, float] = {}
        self._connect_args = connect_args or {}
        self.idle_seconds = idle_seconds
        self._on_create = on_create  # db.ping_after_idle: no round trip per checkout

    def get(self, ref: str, pool_size: int | None) -> Engine:
        now = time.monotonic()
        with self._lock:
            self._close_idle(now, keep=ref)
            engine = self._engines.get(ref)
            if engine is None:
                engine = create_engine(
                    runtime_url(ref),
                    pool_size=pool_size or DEFAULT_POOL,
                    max_overflow=0,  # bounded: a dedicated org never exceeds its pool
                    pool_timeout=10,
                    pool_recycle=1800,
                    pool_pre_ping=self._on_create is None,
                    connect_args=self._connect_args,
                )
                if self._on_create is not None:
                    self._on_create(engine)
                self._engines[ref] = engine
                from dashboard.db import behind_pgbouncer  # db imports this module

                self._behind_pgbouncer[engine] = behind_pgbouncer(str(engine.url), self._pooler)
            self._last_used[ref] = now
            return engine

    def _close_idle(self, now: float, keep: str | None = None) -> None:
        for ref, used in list(self._last_used.items()):
            if ref != keep and now - used > self.idle_seconds:
                engine = self._engines.pop(ref)
                self._behind_pgbouncer.pop(engine, None)
                engine.dispose()
                del self._last_used[ref]

    def owns(self, engine: Engine) -> bool:
        return any(engine is mine for mine in list(self._engines.values()))

    def keeps_session_settings(self, engine: Engine) -> bool:
        """Whether a setting made on one of ``engine``'s connections stays with it: not
        behind PgBouncer in transaction pooling, where the next transaction may run on
        another server connection (and this one serve other clients)."""
        return self._behind_pgbouncer.get(engine) is False

    def close_idle(self) -> None:
        with self._lock:
            self._close_idle(time.monotonic())

    def open_refs(self) -> list[str]:
        with self._lock:
            return sorted(self._engines)

    def open_engines(self) -> list[Engine]:
        with self._lock:
            return list(self._engines.values())

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            self._behind_pgbouncer.clear()
            self._last_used.clear()


# ------------------------------------------------------------------------ which side a statement
_TABLES: tuple[frozenset[str], frozenset[str]] | None = None
_TABLES_LOCK = threading.Lock()


def tables(conn: Connection) -> tuple[frozenset[str], frozenset[str]]:
    """(cell tables, every table of public), read once per process from the shared
    catalogue (the runtime role may read it)."""
    global _TABLES
    if _TABLES is None:
        with _TABLES_LOCK:
            if _TABLES is None:
                every = frozenset(conn.execute(text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n"
                    " ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
                    " AND c.relkind IN ('r', 'p', 'v', 'm')")).scalars())
                _TABLES = (frozenset(catalogue.layout(conn).cell), every)
    return _TABLES


# text -> the table names in it, per set of known tables: the same SQL text is classified on
# every execution of a dedicated org's transaction (issue 20); bounded, the texts are in code.
_TEXT_NAMES: dict[tuple[str, frozenset[str]], frozenset[str]] = {}
_TEXT_NAMES_AT_MOST = 1000


def _named_tables(mapper, clause, every: frozenset[str]) -> set[str] | frozenset[str]:
    if isinstance(clause, TextClause):  # words of the text that are table names
        key = (clause.text, every)
        names = _TEXT_NAMES.get(key)
        if names is None:
            names = frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", clause.text)) & every
            if len(_TEXT_NAMES) < _TEXT_NAMES_AT_MOST:
                _TEXT_NAMES[key] = names
        return names
    if clause is not None:
        return {t.name for t in sql_util.find_tables(clause, include_crud=True,
                                                     include_joins=True) if hasattr(t, "name")}
    if mapper is not None:
        return {t.name for t in mapper.tables}
    return set()


def on_dedicated(known: tuple[frozenset[str], frozenset[str]], mapper, clause) -> bool:
    """True: the statement names cell tables only; False: none. Both: refused."""
    cell, every = known
    names = _named_tables(mapper, clause, every)
    cells = names & cell
    if not cells:
        return False
    others = names - cell
    if others:
        raise CrossDatabaseStatement(
            f"one statement names {sorted(cells)} (on the org's dedicated database) and "
            f"{sorted(others)} (shared): split it in two"
        )
    return True


# ------------------------------------------------------------------------ the dedicated gate

# The dedicated database's app_current_org(): the shared gate's verdict, checked. PL/pgSQL,
# so the ticket is split once and the key read by one cached statement (the gate runs once
# per table per query); the cheap comparisons first, the keyed hash last (all must hold, so
# the order changes no verdict). Same verdict as the SQL version it replaced, which read:
#   SELECT app_uuid(<org part>) ... WHERE mac <> '' AND mac = app_tier_sign(body)
#     AND <org, user, credential, provider parts> = <the settings, '' when unset>
#     AND <expiry part, when 1-18 digits>::bigint > extract(epoch FROM now())
# (tests/db/test_tier_dedicated.py: forged, foreign, expired and real tickets).
GATE_SQL = r"""
CREATE OR REPLACE FUNCTION app_current_org() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  v_ticket text := coalesce(current_setting('app.tier_ticket', true), '');
  v_body text := split_part(v_ticket, '.', 1);
  v_mac text := split_part(v_ticket, '.', 2);
  v_expiry text := split_part(v_body, '|', 5);
BEGIN
  IF v_mac = ''
     OR split_part(v_body, '|', 1) <> coalesce(current_setting('app.org_id', true), '')
     OR split_part(v_body, '|', 2) <> coalesce(current_setting('app.user_id', true), '')
     OR split_part(v_body, '|', 3) <> coalesce(current_setting('app.credential_id', true), '')
     OR split_part(v_body, '|', 4) <> coalesce(current_setting('app.provider_id', true), '')
     OR ((CASE WHEN v_expiry ~ '^[0-9]{1,18}$' THEN v_expiry::bigint END)
         > extract(epoch FROM now())) IS NOT TRUE
     OR v_mac IS DISTINCT FROM app_tier_sign(v_body) THEN
    RETURN NULL;
  END IF;
  RETURN app_uuid(split_part(v_body, '|', 1));
END
$$;
"""

# The dedicated side of a transaction's context: the same settings, the ticket, the org's
# statement timeout, the shared advisory lock a move's barrier waits on, and read-only while
# the org is being moved (a write answers SQLSTATE 25006: 503 + Retry-After).
CONTEXT_SQL = (
    "SELECT set_config('app.user_id', :user_id, true),"
    " set_config('app.org_id', :org_id, true),"
    " set_config('app.credential_id', :credential_id, true),"
    " set_config('app.provider_id', :provider_id, true),"
    " set_config('app.tier_ticket', :ticket, true),"
    " set_config('statement_timeout', :timeout, true),"
    " set_config('transaction_read_only', :read_only, true),"
    " pg_advisory_xact_lock_shared(7243003, hashtext(:org_id))"
)


def apply_context(connection: Connection, params: dict, route) -> None:
    # Straight through psycopg, as the shared side's context statement (first_statement.py):
    # the same statement, first of its transaction, seen by the cursor-execute listeners.
    first_row(connection, CONTEXT_SQL,
              {**params, "ticket": route.ticket or "", "timeout": str(route.timeout_ms),
               "read_only": "on" if route.read_only else "off"})


# One read of the org's cells as a statement of its own (``read``): the context of
# CONTEXT_SQL, then the read, in one self-committing statement. The context's parameters are
# named apart from the read's (it may bind its own org_id); the ticket's is :ticket, as in
# CONTEXT_SQL (what tracing and the isolation tests look for), so no read may bind one.
_READ_CONTEXT = (
    "SELECT set_config('app.user_id', :tier_user_id, true),"
    " set_config('app.org_id', :tier_org_id, true),"
    " set_config('app.credential_id', :tier_credential_id, true),"
    " set_config('app.provider_id', :tier_provider_id, true),"
    " set_config('app.tier_ticket', :ticket, true),"
    " pg_advisory_xact_lock_shared(7243003, hashtext(:tier_org_id))"
)
_READS: dict[str, str] = {}
_READS_AT_MOST = 200  # the statements are fixed in code
_TIMEOUT_KEY = "tier_statement_timeout"


def _read_sql(sql: str) -> str:
    """``sql`` after the context, in one statement. As ``tenancy._packed_sql``: the context
    is a MATERIALIZED CTE on the outer side of LEFT JOIN LATERAL ... ON true (a nested loop,
    its one row first), ``sql`` an OFFSET 0 subquery (a SELECT: no DML can hide in it).
    ``tier_found`` tells "no row" from a row of NULLs."""
    packed = _READS.get(sql)
    if packed is None:
        packed = (
            f"WITH ctx AS MATERIALIZED ({_READ_CONTEXT})"
            f" SELECT q.* FROM ctx LEFT JOIN LATERAL"
            f" (SELECT true AS tier_found, f.* FROM ({sql}) AS f OFFSET 0) AS q ON true"
        )
        if len(_READS) < _READS_AT_MOST:
            _READS[sql] = packed
    return packed


def read(engine: Engine, sql: str, params: dict, context: dict, route) -> list:
    """The rows of ``sql`` (a SELECT of the org's cell tables) on the org's database, as one
    statement that is its own transaction: no BEGIN, context statement or COMMIT (one
    round trip instead of ``apply_context``'s transaction's four). The gate admits what
    the ticket of the shared transaction says, as in a transaction; the shared lock holds
    for the statement, as a move's barrier expects.

    The org's statement timeout is the connection's own setting (a setting made inside a
    statement does not apply to that statement): set when it differs from what the
    connection has, remembered with it. So only for an engine that keeps its connections'
    settings (not behind PgBouncer: ``Engines.keeps_session_settings``)."""
    if "ticket" in params:
        raise ValueError("a dedicated read binds no parameter named 'ticket'")
    with engine.connect() as connection:
        _statement_timeout(connection, route.timeout_ms)
        rows = all_rows(
            connection,
            _read_sql(sql),
            {
                **params,
                **{f"tier_{k}": v for k, v in context.items()},
                "ticket": route.ticket or "",
            },
            alone=True,
        )
    if not rows or rows[0].tier_found is None:
        return []
    return [row[1:] for row in rows]  # without tier_found


def _statement_timeout(connection: Connection, timeout_ms: int | None) -> None:
    pooled = connection.connection  # lives as long as the DBAPI connection (public API)
    if pooled.info.get(_TIMEOUT_KEY, -1) == timeout_ms:
        return
    value = "DEFAULT" if timeout_ms is None else str(int(timeout_ms))
    raw = pooled.dbapi_connection
    raw.autocommit = True  # a session setting: outside any transaction, none is open
    try:
        raw.execute(f"SET statement_timeout = {value}")
    except Exception:
        connection.invalidate()  # unknown state: never pooled again
        raise
    finally:
        if not connection.invalidated:
            raw.autocommit = False
    pooled.info[_TIMEOUT_KEY] = timeout_ms


def revision(conn: Connection) -> str:
    heads = sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
    return ",".join(heads)


def prepare(shared_owner_url: str, ref: str) -> str:
    """Bring the dedicated database named by ``ref`` to the code's schema: Alembic (as its
    owner), then the dedicated gate, the installation's gate key, and no foreign key from a
    cell table to the control plane. Idempotent; returns its revision."""
    from dashboard import migrate

    target = owner_url(ref)
    migrate.upgrade(target)
    shared = create_engine(shared_owner_url, poolclass=pool.NullPool)
    dedicated = create_engine(target, poolclass=pool.NullPool)
    try:
        with shared.begin() as conn:
            secret = conn.execute(
                text("SELECT secret FROM tier_gate_keys WHERE id = 1")
            ).scalar_one()
            cell = catalogue.layout(conn).cell
        with dedicated.begin() as conn:
            conn.execute(text(GATE_SQL))
            conn.execute(text(
                f"ALTER FUNCTION app_current_org() OWNER TO {DEFINER_ROLE};"
                f" REVOKE ALL ON FUNCTION app_current_org() FROM PUBLIC;"
                f" GRANT EXECUTE ON FUNCTION app_current_org() TO {APP_ROLE}"
            ))
            conn.execute(
                text("INSERT INTO tier_gate_keys (id, secret) VALUES (1, :s)"
                     " ON CONFLICT (id) DO UPDATE SET secret = excluded.secret"),
                {"s": secret},
            )
            _drop_control_keys(conn, cell)
            for table in cell:  # the mover copies as the definer role
                conn.execute(text(f"GRANT SELECT, INSERT, DELETE ON public.{quote(table)}"
                                  f" TO {DEFINER_ROLE}"))
            return revision(conn)
    finally:
        shared.dispose()
        dedicated.dispose()


def _drop_control_keys(conn: Connection, cell: tuple[str, ...]) -> None:
    rows = conn.execute(
        text(
            "SELECT src.relname AS child, k.conname FROM pg_constraint k"
            " JOIN pg_class src ON src.oid = k.conrelid JOIN pg_class dst ON dst.oid = k.confrelid"
            " JOIN pg_namespace n ON n.oid = src.relnamespace"
            " WHERE k.contype = 'f' AND n.nspname = 'public'"
            " AND src.relname = ANY(:cell) AND NOT dst.relname = ANY(:cell)"
        ),
        {"cell": list(cell)},
    ).all()
    for row in rows:
        conn.execute(text(f"ALTER TABLE public.{quote(row.child)}"
                          f" DROP CONSTRAINT {quote(row.conname)}"))
