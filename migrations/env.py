"""Alembic environment: always runs as the owner role (MIGRATION_DATABASE_URL)."""

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # Serialise concurrent `migrate` calls (several gunicorn workers, test workers).
        connection.exec_driver_sql("SELECT pg_advisory_lock(7243001)")
        try:
            context.configure(connection=connection, transaction_per_migration=False)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(7243001)")
            connection.commit()


if context.is_offline_mode():
    raise SystemExit("Offline SQL generation is not supported: run `tenantdesk migrate`.")
run_migrations_online()
