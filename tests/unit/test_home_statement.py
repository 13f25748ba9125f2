"""The org home's statement stays within what psycopg keeps converted (issue 20).

psycopg turns a statement's ``%(name)s`` placeholders into ``$n`` with a regular expression
and keeps the result only for a text of at most ``MAX_CACHED_STATEMENT_LENGTH`` bytes; a
longer one is converted again on every execution (~140 us for the home's).
"""

from __future__ import annotations

import itertools

import pytest
from psycopg import _queries
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from dashboard import tenancy
from dashboard.orgs import home


@pytest.mark.parametrize("shape", list(itertools.product((False, True), repeat=4)))
@pytest.mark.parametrize("ticket", [False, True])
def test_every_shape_of_the_packed_home_statement_is_kept_converted(shape, ticket):
    packed = tenancy._packed_sql(home._home_sql(*shape), ticket)
    sent = str(text(packed).compile(dialect=postgresql.psycopg.dialect())).encode()
    assert len(sent) <= _queries.MAX_CACHED_STATEMENT_LENGTH


def test_compacting_keeps_string_literals_as_they_are():
    assert home.compact("SELECT  'a  b',\n  x\tFROM t WHERE s = 'it''s  '") == (
        "SELECT 'a  b', x FROM t WHERE s = 'it''s  '"
    )


def test_a_line_comment_is_refused():
    with pytest.raises(ValueError):
        home.compact("SELECT 1 -- one\n, 2")
