"""Migration 0036_hostkeys_passkey_rp_id goes down and up again on the test database: the
RP ID column and app_passkey_lookup's extra column go and come back, a passkey row and the
look-up survive both ways (the down step drops only what the up step added)."""

from __future__ import annotations

import secrets

from alembic import command
from sqlalchemy import text

from dashboard.migrate import alembic_config
from tests import factories

REVISION = "0036_hostkeys_passkey_rp_id"


def _lookup_columns() -> list[str]:
    return list(factories.execute(
        "SELECT unnest(proargnames) FROM pg_proc WHERE proname = 'app_passkey_lookup'"
    ).scalars())


def test_the_rp_id_migration_goes_down_and_up(database_urls, runtime_sessions):
    user = factories.UserFactory()
    credential = secrets.token_bytes(32)
    factories.execute("INSERT INTO passkeys (user_id, credential_id, public_key, name, rp_id)"
                      " VALUES (:u, :c, 'k', 'Key', 'acme.example')", u=user.id, c=credential)
    # A lock wait fails the test (after 10 s) instead of hanging the suite.
    owner = database_urls.owner
    config = alembic_config(owner + ("&" if "?" in owner else "?")
                            + "options=-c%20lock_timeout%3D10000")
    factories.session().close()  # no open transaction of ours holds locks on passkeys
    command.downgrade(config, f"{REVISION}-1")
    try:
        assert "rp_id" not in _lookup_columns()
        assert factories.execute("SELECT count(*) FROM information_schema.columns"
                                 " WHERE table_name = 'passkeys' AND column_name = 'rp_id'"
                                 ).scalar() == 0
    finally:
        factories.session().close()
        command.upgrade(config, "heads")
    assert "rp_id" in _lookup_columns()
    with runtime_sessions() as session:  # the app role may call the look-up again
        row = session.execute(text("SELECT user_id, rp_id FROM app_passkey_lookup(:c)"),
                              {"c": credential}).one()
    assert row.user_id == user.id and row.rp_id is None  # the column came back empty
