"""Engine, connection pool and session factory for the runtime role.

Sessions made here carry no tenant: ``tenancy.py`` decides who they act for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from dashboard import cell_reads, provisioning, tenancy
from dashboard.tiers.dedicated import Engines


class UnsafeDatabaseRole(RuntimeError):
    """The runtime role could read past row-level security; refuse to serve."""


@dataclass
class Database:
    engine: Engine
    sessionmaker: sessionmaker[Session]
    urls: provisioning.DatabaseUrls
    dedicated: Engines | None = None  # one engine per dedicated database, made on first use

    def engines(self) -> list[Engine]:
        """The shared engine, then every dedicated database's engine open now."""
        return [self.engine, *(self.dedicated.open_engines() if self.dedicated else ())]

    def dispose(self) -> None:
        self.engine.dispose()
        if self.dedicated is not None:
            self.dedicated.dispose()


def connect(
    urls: provisioning.DatabaseUrls,
    pool_size: int = 10,
    pooler: str = "auto",
    connect_timeout: int = 5,
) -> Database:
    engine = create_engine(
        urls.runtime,
        pool_size=pool_size,
        max_overflow=max(2, pool_size // 2),
        # No ping on every checkout (a round trip per request, issue 20): a connection is
        # pinged only after sitting idle (ping_after_idle), and one that dies in use fails its
        # request (503) and makes the pool replace every connection opened before it.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args=connect_args(urls.runtime, pooler, connect_timeout),
    )
    ping_after_idle(engine)
    # Sessions open on the shared database; a dedicated org's cell tables are reached through
    # ``dedicated`` (cell_reads.TieredSession), with the same connection options.
    dedicated = Engines(
        connect_args(urls.runtime, pooler, connect_timeout),
        on_create=ping_after_idle,
        pooler=pooler,
    )
    factory = sessionmaker(engine, class_=cell_reads.TieredSession, expire_on_commit=False,
                           autoflush=True, info={tenancy.ENGINES_KEY: dedicated})
    return Database(engine=engine, sessionmaker=factory, urls=urls, dedicated=dedicated)


IDLE_PING_SECONDS = 30.0


def ping_after_idle(engine: Engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """Check a pooled connection before use only when it sat idle for ``idle_seconds``
    (a server restart or an idle timeout in between): a busy pool pays no round trip."""

    @event.listens_for(engine, "checkin")
    def _idle_since(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, proxy) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as error:  # any failure: the pool drops it and connects anew
            raise exc.DisconnectionError(str(error)) from error


PGBOUNCER_PORT = 6432


def behind_pgbouncer(url: str, pooler: str) -> bool:
    """``DATABASE_POOLER``: ``pgbouncer``, ``none``, or ``auto`` (PgBouncer's port, 6432)."""
    if pooler in ("pgbouncer", "none"):
        return pooler == "pgbouncer"
    return make_url(url).port == PGBOUNCER_PORT


def connect_args(url: str, pooler: str, connect_timeout: int) -> dict:
    """psycopg connection options. Behind PgBouncer in transaction pooling mode, each
    transaction may run on another server connection, where a statement psycopg prepared
    earlier does not exist ("prepared statement _pg3_N does not exist"): prepare nothing."""
    args: dict = {"connect_timeout": connect_timeout}
    if behind_pgbouncer(url, pooler):
        args["prepare_threshold"] = None
    return args


FIX_ROLES_HINT = (
    "Connect the app as a role that is not a superuser, has NOBYPASSRLS, owns no table and "
    "is a member of no role that does "
    "(see README, 'Running on your own PostgreSQL'): "
    "ALTER ROLE <role> NOSUPERUSER NOBYPASSRLS; REVOKE <owner role> FROM <role>; and run "
    "migrations as the owner role via "
    "MIGRATION_DATABASE_URL."
)


def check_runtime_role(engine: Engine) -> None:
    """Refuse to run when RLS would not bind the runtime role.

    Membership counts as much as the role's own attributes: a member of the owner role acts
    as the owner (ALTER TABLE ... NO FORCE ROW LEVEL SECURITY), and a member of a superuser
    or BYPASSRLS role (the definer role included) can SET ROLE to it.
    """
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.rolname, r.rolsuper, r.rolbypassrls,"
                " (SELECT count(*) FROM pg_class c"
                "   JOIN pg_namespace n ON n.oid = c.relnamespace"
                "  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
                "    AND pg_has_role(r.oid, c.relowner, 'MEMBER')) AS owned,"
                " ARRAY(SELECT p.rolname FROM pg_roles p"
                "  WHERE p.oid <> r.oid AND (p.rolsuper OR p.rolbypassrls)"
                "    AND pg_has_role(r.oid, p.oid, 'MEMBER') ORDER BY 1) AS powerful"
                " FROM pg_roles r WHERE r.rolname = current_user"
            )
        ).one()
    problems = []
    if row.rolsuper:
        problems.append("is a superuser")
    if row.rolbypassrls:
        problems.append("has BYPASSRLS")
    if row.owned:
        problems.append(f"owns {row.owned} table(s) (or is a member of their owner)")
    if row.powerful:
        problems.append(f"is a member of {', '.join(row.powerful)} (superuser or BYPASSRLS)")
    if problems:
        raise UnsafeDatabaseRole(
            f"Refusing to start: database role {row.rolname!r} {', '.join(problems)}, so "
            f"row-level security would not isolate tenants. {FIX_ROLES_HINT}"
        )


@contextmanager
def recording_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs, in order (the statements-per-
    page test and ``bench/bench_profile.py`` count them)."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
