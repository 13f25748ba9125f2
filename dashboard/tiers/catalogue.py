"""Which tenant tables move with a tenant, read from PostgreSQL's catalogue (never a list).

A tenant table (``org_id``, forced RLS) is a **cell** table, and lives in the org's tier,
unless something in the shared database is bound to its copy in ``public``:

- a function that pins ``search_path`` (every SECURITY DEFINER look-up does) or runs as a
  trigger (it fires for rows of any tier) and names it,
- a view that reads it,
- a foreign key from a table that stays shared.

Those stay in the shared **control plane** for every tier (organizations, memberships,
credentials, invitations, SSO, the audit log that definer functions append to...). A table
another engineer adds later is classified by the same rules the moment it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

_TENANT_TABLES = text(
    """
    SELECT c.oid, c.relname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relforcerowsecurity
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                    AND a.attname = 'org_id' AND NOT a.attisdropped)
     ORDER BY c.relname
    """
)

_PINNED = text(
    """
    SELECT c.relname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relname = ANY(:names)
       AND (EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace
                     WHERE pn.nspname = 'public'
                       AND (p.prosecdef OR p.proconfig IS NOT NULL
                            OR EXISTS (SELECT 1 FROM pg_trigger tg WHERE tg.tgfoid = p.oid))
                       AND p.prosrc ~ ('\\m' || c.relname || '\\M'))
         OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid
                     WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = c.oid
                       AND rw.ev_class <> c.oid))
    """
)

_FOREIGN_KEYS = text(
    """
    SELECT src.relname AS child, dst.relname AS parent
      FROM pg_constraint k
      JOIN pg_class src ON src.oid = k.conrelid
      JOIN pg_class dst ON dst.oid = k.confrelid
      JOIN pg_namespace n ON n.oid = src.relnamespace
     WHERE k.contype = 'f' AND n.nspname = 'public' AND src.oid <> dst.oid
    """
)


@dataclass(frozen=True)
class Layout:
    cell: tuple[str, ...]  # parents before children
    control: tuple[str, ...]

    def children_first(self) -> tuple[str, ...]:
        return tuple(reversed(self.cell))


def layout(conn: Connection) -> Layout:
    tenant = [r.relname for r in conn.execute(_TENANT_TABLES)]
    pinned = {r[0] for r in conn.execute(_PINNED, {"names": tenant})}
    edges = [(r.child, r.parent) for r in conn.execute(_FOREIGN_KEYS)]
    control = set(pinned)
    # A table referenced by one that stays shared stays shared too (to a fixed point).
    changed = True
    while changed:
        changed = False
        for child, parent in edges:
            if parent in tenant and parent not in control and (
                child in control or child not in tenant
            ):
                control.add(parent)
                changed = True
    cell = [t for t in tenant if t not in control]
    return Layout(cell=_parents_first(cell, edges), control=tuple(sorted(control)))


def _parents_first(tables: list[str], edges: list[tuple[str, str]]) -> tuple[str, ...]:
    ordered: list[str] = []
    remaining = sorted(tables)
    while remaining:
        ready = [
            t for t in remaining
            if not any(c == t and p in remaining and p != t for c, p in edges)
        ]
        if not ready:  # a cycle: keep the rest in name order
            ready = remaining[:1]
        for t in ready:
            ordered.append(t)
            remaining.remove(t)
    return tuple(ordered)


def columns(conn: Connection, table: str) -> list[str]:
    """Columns of the shared table, in order: the list every copy and checksum uses."""
    return [
        r[0]
        for r in conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = ('public.' || :t)::regclass"
                " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            ),
            {"t": table},
        )
    ]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fingerprint_sql(schema: str, table: str, cols: list[str]) -> str:
    """Row count and an order-independent checksum of one org's rows of one table."""
    row = ", ".join(quote(c) for c in cols)
    return (
        "SELECT count(*) AS rows,"
        " md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS checksum"
        f" FROM (SELECT md5(ROW({row})::text) AS h FROM {quote(schema)}.{quote(table)}"
        " WHERE org_id = :org) AS x"
    )


def fingerprint(conn: Connection, schema: str, table: str, cols: list[str], org) -> dict:
    row = conn.execute(text(fingerprint_sql(schema, table, cols)), {"org": org}).one()
    return {"rows": int(row.rows), "checksum": row.checksum}


def schema_name(org_id) -> str:
    return "tenant_" + str(org_id).replace("-", "")
