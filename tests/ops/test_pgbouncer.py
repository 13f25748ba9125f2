"""Behind PgBouncer in transaction pooling mode (Debian's, on loopback).

Each transaction may run on another server connection, so a statement psycopg prepared on
one is missing on the next. With ``DATABASE_POOLER=pgbouncer`` nothing is prepared and
every request answers; the control shows the same load without it fails, which is what
operators saw (16.6 % of requests answered 500).
"""

from __future__ import annotations

import dataclasses

import pytest

from dashboard.db import behind_pgbouncer
from tests import factories
from tests.conftest import make_app
from tests.live_server import LiveServer
from tests.ops.load import hammer


@pytest.fixture(scope="module")
def owner():
    org, people = factories.org_with_members(owner="owner")
    return org, people["owner"]


def _serve(database_urls, pgbouncer, tmp_path_factory, pooler: str) -> LiveServer:
    urls = dataclasses.replace(database_urls, runtime=pgbouncer.via(database_urls.runtime))
    return LiveServer().start(
        lambda url: make_app(urls, tmp_path_factory.mktemp("bouncer"), BASE_URL=url,
                             DB_POOL_SIZE=4, DATABASE_POOLER=pooler)
    )


def _load(server, org, user):
    paths = [f"/o/{org.slug}/", f"/o/{org.slug}/members", "/switcher"]
    return hammer(server.url, user.email, paths, clients=6, rounds=8)


def test_every_request_answers_through_pgbouncer(database_urls, pgbouncer, tmp_path_factory,
                                                  owner):
    server = _serve(database_urls, pgbouncer, tmp_path_factory, "pgbouncer")
    try:
        statuses = _load(server, *owner)
    finally:
        server.stop()
    assert statuses == {200: sum(statuses.values())}, statuses


def test_control_prepared_statements_break_under_transaction_pooling(
    database_urls, pgbouncer, tmp_path_factory, owner
):
    server = _serve(database_urls, pgbouncer, tmp_path_factory, "none")
    try:
        statuses = _load(server, *owner)
    finally:
        server.stop()
    assert statuses[500] > 0, f"the failure this setting prevents did not show: {statuses}"


def test_auto_detects_pgbouncer_by_its_port():
    assert behind_pgbouncer("postgresql://app@db:6432/td", "auto")
    assert not behind_pgbouncer("postgresql://app@db:5432/td", "auto")
    assert behind_pgbouncer("postgresql://app@db:5432/td", "pgbouncer")
    assert not behind_pgbouncer("postgresql://app@db:6432/td", "none")
