"""Engine, connection pool and session factory for the runtime role.

Sessions made here carry no tenant: ``tenancy.py`` decides who they act for.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from dashboard import provisioning


class UnsafeDatabaseRole(RuntimeError):
    """The runtime role could read past row-level security; refuse to serve."""


@dataclass
class Database:
    engine: Engine
    sessionmaker: sessionmaker[Session]
    urls: provisioning.DatabaseUrls

    def dispose(self) -> None:
        self.engine.dispose()


def connect(urls: provisioning.DatabaseUrls, pool_size: int = 10) -> Database:
    engine = create_engine(
        urls.runtime,
        pool_size=pool_size,
        max_overflow=max(2, pool_size // 2),
        pool_pre_ping=True,
        pool_recycle=1800,
    )
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=True)
    return Database(engine=engine, sessionmaker=factory, urls=urls)


FIX_ROLES_HINT = (
    "Connect the app as a role that is not a superuser, has NOBYPASSRLS and owns no table "
    "(see README, 'Running on your own PostgreSQL'): "
    "ALTER ROLE <role> NOSUPERUSER NOBYPASSRLS; and run migrations as the owner role via "
    "MIGRATION_DATABASE_URL."
)


def check_runtime_role(engine: Engine) -> None:
    """Refuse to run when RLS would not bind the runtime role."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.rolname, r.rolsuper, r.rolbypassrls,"
                " (SELECT count(*) FROM pg_class c"
                "   JOIN pg_namespace n ON n.oid = c.relnamespace"
                "  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
                "    AND c.relowner = r.oid) AS owned"
                " FROM pg_roles r WHERE r.rolname = current_user"
            )
        ).one()
    problems = []
    if row.rolsuper:
        problems.append("is a superuser")
    if row.rolbypassrls:
        problems.append("has BYPASSRLS")
    if row.owned:
        problems.append(f"owns {row.owned} table(s)")
    if problems:
        raise UnsafeDatabaseRole(
            f"Refusing to start: database role {row.rolname!r} {', '.join(problems)}, so "
            f"row-level security would not isolate tenants. {FIX_ROLES_HINT}"
        )
