"""Migrations per tier: roll the shared schema's revision out to tenant schemas and
dedicated databases.

``tenantdesk migrate`` runs Alembic once on the shared schema, then brings tenant schemas and
dedicated databases that are behind (a dedicated database: Alembic as its owner, one
transaction, then its gate; ``dedicated.prepare``) — all by default, ``--tenants N`` the
first N, ``--org SLUG`` one — each in its own transaction: a tenant is either entirely at
the new revision or untouched, and while it is behind the app answers its pages with a
maintenance page (503), never half-migrated tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, pool, text

from dashboard.provisioning import DEFINER_ROLE
from dashboard.tiers import catalogue, dedicated, schema


@dataclass(frozen=True)
class TenantRevision:
    slug: str
    org_id: str
    tier: str
    revision: str | None
    status: str  # current, behind, migrated
    rows: int
    bytes: int | None


_ROUTES = text(
    """
    SELECT o.id, o.slug, coalesce(r.tier, 'shared') AS tier, r.schema_name, r.revision,
           coalesce(r.state, 'active') AS state, r.connection_ref
      FROM organizations o LEFT JOIN tenant_routes r ON r.org_id = o.id
     ORDER BY o.slug
    """
)


def _read_routes(conn):
    conn.execute(text(f"SET LOCAL ROLE {DEFINER_ROLE}"))
    rows = conn.execute(_ROUTES).all()
    conn.execute(text("RESET ROLE"))
    return rows


def migrate_tiers(owner_url: str, tenants: str = "all", org: str | None = None,
                  report=None) -> list[TenantRevision]:
    """Sync tenant schemas behind the shared revision; return every tenant's revision."""
    engine = create_engine(owner_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            drop_orphans(conn)
            target = schema.shared_revision(conn)
            routes = _read_routes(conn)
        behind = [r for r in routes if r.tier != "shared" and r.revision != target]
        if org is not None:
            chosen = [r for r in behind if r.slug == org]
        elif tenants == "all":
            chosen = behind
        else:
            chosen = behind[: int(tenants)]
        migrated = set()
        for route in chosen:
            if route.tier == "dedicated":
                changes = [f"dedicated database {route.connection_ref}"]
                revision = dedicated.prepare(owner_url, route.connection_ref)
                with engine.begin() as conn:
                    conn.execute(
                        text("UPDATE tenant_routes SET revision = :r, updated_at = now()"
                             " WHERE org_id = :o"),
                        {"r": revision, "o": route.id},
                    )
                migrated.add(route.id)
                if report:
                    report(route.slug, changes)
                continue
            with engine.begin() as conn:
                # One transaction per tenant; the row lock keeps a concurrent move out.
                conn.execute(
                    text("SELECT 1 FROM tenant_routes WHERE org_id = :o FOR UPDATE"),
                    {"o": route.id},
                )
                changes = schema.sync(conn, route.schema_name)
                conn.execute(
                    text("UPDATE tenant_routes SET revision = :r, updated_at = now()"
                         " WHERE org_id = :o"),
                    {"r": target, "o": route.id},
                )
            migrated.add(route.id)
            if report:
                report(route.slug, changes)
        return revisions(engine, target, migrated)
    finally:
        engine.dispose()


def drop_orphans(conn) -> list[str]:
    """Drop tenant schemas no route names any more and that hold no row (left empty by the
    purge of their org, which cannot drop a schema from inside a transaction of the app)."""
    dropped = []
    names = [r[0] for r in conn.execute(text(
        "SELECT n.nspname FROM pg_namespace n WHERE n.nspname ~ '^tenant_[0-9a-f]{32}$'"
        " AND NOT EXISTS (SELECT 1 FROM tenant_routes r WHERE r.schema_name = n.nspname)"))]
    for name in names:
        tables = [r[0] for r in conn.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :s AND c.relkind = 'r'"), {"s": name})]
        conn.execute(text(f"SET LOCAL ROLE {DEFINER_ROLE}"))
        empty = all(
            conn.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {catalogue.quote(name)}."
                              f"{catalogue.quote(t)})")).scalar_one()
            for t in tables
        )
        conn.execute(text("RESET ROLE"))
        if empty:
            schema.drop(conn, name)
            dropped.append(name)
    return dropped


def revisions(engine, target: str | None = None, migrated=frozenset()) -> list[TenantRevision]:
    """Every org's tier, revision, status and size: one count per cell table and schema."""
    out = []
    with engine.begin() as conn:
        target = target or schema.shared_revision(conn)
        routes = _read_routes(conn)
        layout = catalogue.layout(conn)
        places = ["public"] + sorted({r.schema_name for r in routes if r.schema_name})
        conn.execute(text(f"SET LOCAL ROLE {DEFINER_ROLE}"))
        rows: dict[tuple[str, object], int] = {}
        for place in places:
            for table in layout.cell:
                qualified = f"{catalogue.quote(place)}.{catalogue.quote(table)}"
                if not conn.execute(text("SELECT to_regclass(:q) IS NOT NULL"),
                                    {"q": qualified}).scalar_one():
                    continue
                for org_id, count in conn.execute(
                    text(f"SELECT org_id, count(*) FROM {qualified} GROUP BY org_id")
                ):
                    rows[(place, org_id)] = rows.get((place, org_id), 0) + count
        sizes = dict(conn.execute(text(
            "SELECT n.nspname, sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname ~ '^tenant_[0-9a-f]{32}$' AND c.relkind = 'r' GROUP BY 1")).all())
        rows.update(_dedicated_rows(routes, layout.cell))
        for r in routes:
            place = r.connection_ref or r.schema_name or "public"
            size = sizes.get(r.schema_name) if r.schema_name else None
            revision = target if r.tier == "shared" else r.revision
            status = ("migrated" if r.id in migrated
                      else "current" if revision == target else "behind")
            if r.state == "moving":
                status += ", moving"
            out.append(TenantRevision(r.slug, str(r.id), r.tier, revision, status,
                                      rows.get((place, r.id), 0),
                                      int(size) if size is not None else None))
    return out


def _dedicated_rows(routes, cell) -> dict:
    """Cell rows per org in each dedicated database (as its owner, through the definer)."""
    out: dict = {}
    for ref in sorted({r.connection_ref for r in routes if r.tier == "dedicated"}):
        try:
            engine = create_engine(dedicated.owner_url(ref), poolclass=pool.NullPool)
        except dedicated.DedicatedUnavailable:
            continue
        try:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL ROLE {DEFINER_ROLE}"))
                for table in cell:
                    for org_id, count in conn.execute(text(
                        f"SELECT org_id, count(*) FROM public.{catalogue.quote(table)}"
                        " GROUP BY org_id"
                    )):
                        out[(ref, org_id)] = out.get((ref, org_id), 0) + count
        finally:
            engine.dispose()
    return out
