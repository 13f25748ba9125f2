"""Test helpers for isolation tiers: move orgs with the real mover, count rows as the owner."""

from __future__ import annotations

import os
from contextlib import contextmanager

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from dashboard import provisioning
from dashboard.tiers import catalogue
from dashboard.tiers.moves import Mover

# `TENANTDESK_TEST_TIERS=spread` (the CI stage "isolation tests, tiers spread"): the isolation
# prober and the concurrency leak test put their orgs on every tier at once.
SPREAD = os.environ.get("TENANTDESK_TEST_TIERS") == "spread"
TIERS = ("schema", "shared")

# The "dedicated" database of the tests: a second database on the test server, named by this
# environment variable (its owner's URL in DEDICATED_REF + "_OWNER").
DEDICATED_REF = "TENANTDESK_TEST_DEDICATED_DB"


def dedicated_name(database_urls) -> str:
    return make_url(database_urls.owner).database + "_dedicated"


def dedicated_database(database_urls) -> str:
    """Create (once) the test's dedicated database and point DEDICATED_REF at it."""
    name = dedicated_name(database_urls)
    if make_url(os.environ.get(DEDICATED_REF, "postgresql:///x")).database != name:
        urls = provisioning.bootstrap(database_urls.admin, name)
        os.environ[DEDICATED_REF] = urls.runtime
        os.environ[DEDICATED_REF + "_OWNER"] = urls.owner
        os.environ[DEDICATED_REF + "_ADMIN"] = urls.admin
    return DEDICATED_REF


def dedicated_admin_engine(database_urls):
    """A superuser on the dedicated database (sees through RLS): for checking. Dispose it."""
    dedicated_database(database_urls)
    return create_engine(os.environ[DEDICATED_REF + "_ADMIN"], poolclass=pool.NullPool)


def spread(database_urls, orgs, dedicated: bool = False) -> dict[str, str]:
    """Org i goes to TIERS[i % len(TIERS)] (with ``dedicated``, the last org goes to the
    dedicated database instead); returns slug -> tier."""
    placed = {}
    for number, org in enumerate(orgs):
        tier = TIERS[number % len(TIERS)]
        if dedicated and number == len(orgs) - 1:
            tier = "dedicated"
        if tier != "shared":
            move(database_urls, org, tier)
        placed[org.slug] = tier
    return placed


def move(database_urls, org, to: str) -> dict:
    target = dedicated_database(database_urls) if to == "dedicated" else None
    mover = Mover(database_urls.owner)
    try:
        return mover.run(mover.start(org.slug, to, requested_by="test", target=target))
    finally:
        mover.close()


def resume(database_urls, org) -> dict:
    """Run ``org``'s open move (one a killed mover left) to its end: the move's row."""
    mover = Mover(database_urls.owner)
    try:
        return mover.run(mover.open_move(org.id)["id"])
    finally:
        mover.close()


@contextmanager
def on_tier(database_urls, org, tier: str):
    """``org`` on ``tier`` for the block (moved there unless ``shared``), moved back to the
    shared tier after it."""
    if tier != "shared":
        move(database_urls, org, tier)
    yield tier
    if tier != "shared":
        move(database_urls, org, "shared")


def cell_tables(admin_engine) -> tuple[str, ...]:
    with admin_engine.connect() as conn:
        return catalogue.layout(conn).cell


def counts(admin_engine, org, schema: str = "public") -> dict[str, int]:
    """Rows of ``org`` per cell table in ``schema``, as a superuser (through RLS)."""
    out = {}
    with admin_engine.connect() as conn:
        for table in catalogue.layout(conn).cell:
            exists = conn.execute(text("SELECT to_regclass(:q) IS NOT NULL"),
                                  {"q": f"{schema}.{table}"}).scalar_one()
            out[table] = conn.execute(
                text(f"SELECT count(*) FROM {schema}.{table} WHERE org_id = :o"), {"o": org.id}
            ).scalar_one() if exists else 0
    return out


def all_counts(admin_engine) -> dict[tuple[str, str], int]:
    """Every tenant table in every schema, per org: to prove other orgs are untouched."""
    out = {}
    with admin_engine.connect() as conn:
        tables = conn.execute(text(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relforcerowsecurity"
            " AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
            " AND a.attname = 'org_id')")).all()
        for schema, table in tables:
            for org_id, n in conn.execute(
                text(f"SELECT org_id, count(*) FROM {schema}.{table} GROUP BY org_id")
            ):
                out[(str(org_id), table)] = out.get((str(org_id), table), 0) + n
    return out


def route(admin_engine, org) -> dict | None:
    with admin_engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM tenant_routes WHERE org_id = :o"),
                           {"o": org.id}).one_or_none()
    return dict(row._mapping) if row else None
