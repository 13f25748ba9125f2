"""Which database errors mean "unavailable" (503), "busy" (statement timeout) or a bug (500):
real errors from a real server, not hand-made ones."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dashboard.ops.outages import database_unavailable, statement_timed_out


def _error(engine, *statements) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised, engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    return raised.value


def test_kinds_of_database_errors(admin_engine):
    timeout = _error(admin_engine, "SET LOCAL statement_timeout = 10", "SELECT pg_sleep(1)")
    assert statement_timed_out(timeout) and not database_unavailable(timeout)
    bug = _error(admin_engine, "SELECT * FROM no_such_table")
    assert not statement_timed_out(bug) and not database_unavailable(bug)
    nowhere = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none",
                            connect_args={"connect_timeout": 2})
    refused = _error(nowhere, "SELECT 1")
    assert database_unavailable(refused) and not statement_timed_out(refused)
    with admin_engine.connect() as victim:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar_one()
        victim.commit()
        with admin_engine.connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(DBAPIError) as raised:
            victim.execute(text("SELECT 1"))
    assert database_unavailable(raised.value)

