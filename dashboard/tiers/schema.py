"""Build and keep up to date a tenant schema, from the shared schema's catalogue.

A tenant schema holds the org's cell tables with exactly the shape of ``public``: the same
columns, defaults, checks, indexes, composite foreign keys (to cell tables in the same
schema, to control tables in ``public``), the same four policies through the same gate
``public.app_current_org()``, ENABLE + FORCE row-level security and the same grants.

``sync`` is idempotent: it adds what the shared schema gained since (tables, columns,
indexes, constraints), drops what it lost, re-creates the policies and grants, and stamps the
tier with the shared revision. That is how ``tenantdesk migrate`` rolls a migration out to
tenant schemas: the Alembic migration runs once on ``public`` (unqualified names), then each
tenant schema is synced to it. Runs as the owner role.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from dashboard.tiers import catalogue
from dashboard.tiers.catalogue import quote


def shared_revision(conn: Connection) -> str:
    heads = sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
    return ",".join(heads)


TENANT_SCHEMA = re.compile(r"tenant_[0-9a-f]{32}")


def _checked(schema: str) -> str:
    if not TENANT_SCHEMA.fullmatch(schema or ""):
        raise ValueError(f"{schema!r} is not a tenant schema")
    return schema


def sync(conn: Connection, schema: str, layout: catalogue.Layout | None = None) -> list[str]:
    """Bring ``schema`` to the shape of ``public``'s cell tables; return what changed."""
    _checked(schema)
    layout = layout or catalogue.layout(conn)
    done: list[str] = []
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"))
    conn.execute(text(f"REVOKE ALL ON SCHEMA {quote(schema)} FROM PUBLIC"))
    conn.execute(text(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {APP_ROLE}, {DEFINER_ROLE}"))
    existing = _tables(conn, schema)
    for table in set(existing) - set(layout.cell):
        conn.execute(text(f"DROP TABLE {quote(schema)}.{quote(table)} CASCADE"))
        done.append(f"dropped {table}")
    for table in layout.cell:
        if table not in existing:
            conn.execute(
                text(
                    f"CREATE TABLE {quote(schema)}.{quote(table)}"
                    f" (LIKE public.{quote(table)} INCLUDING ALL)"
                )
            )
            done.append(f"created {table}")
        _drop_identities(conn, schema, table)
        done += _sync_columns(conn, schema, table)
        done += _sync_indexes(conn, schema, table)
    for table in layout.cell:  # after every table exists: foreign keys may point between them
        done += _sync_constraints(conn, schema, table)
        _sync_security(conn, schema, table)
        ensure_freeze_trigger(conn, schema, table)
    return done


def ensure_freeze_trigger(conn: Connection, schema: str, table: str) -> None:
    """The statement trigger that refuses writes of an org being moved (0011_tiers_b)."""
    present = conn.execute(
        text("SELECT 1 FROM pg_trigger WHERE tgname = 'tier_frozen' AND tgrelid ="
             " (quote_ident(:s) || '.' || quote_ident(:t))::regclass"),
        {"s": schema, "t": table},
    ).first()
    if not present:
        conn.execute(text(
            f"CREATE TRIGGER tier_frozen BEFORE INSERT OR UPDATE OR DELETE"
            f" ON {quote(schema)}.{quote(table)}"
            " FOR EACH STATEMENT EXECUTE FUNCTION public.app_tier_refuse_frozen()"
        ))


def _tables(conn: Connection, schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = :s AND c.relkind IN ('r', 'p')"
            ),
            {"s": schema},
        )
    ]


def _drop_identities(conn: Connection, schema: str, table: str) -> None:
    """A tenant schema draws ids from the shared table's sequence, never one of its own: a
    tenant moved back to shared then cannot collide with ids handed out meanwhile."""
    for (name,) in conn.execute(
        text("SELECT attname FROM pg_attribute WHERE attrelid ="
             " (quote_ident(:s) || '.' || quote_ident(:t))::regclass AND attidentity <> ''"),
        {"s": schema, "t": table},
    ).all():
        conn.execute(text(f"ALTER TABLE {quote(schema)}.{quote(table)}"
                          f" ALTER COLUMN {quote(name)} DROP IDENTITY"))
    for (sequence,) in conn.execute(
        text("SELECT pg_get_serial_sequence('public.' || quote_ident(:t), attname)"
             " FROM pg_attribute WHERE attrelid = ('public.' || quote_ident(:t))::regclass"
             " AND attnum > 0 AND NOT attisdropped"
             " AND pg_get_serial_sequence('public.' || quote_ident(:t), attname) IS NOT NULL"),
        {"t": table},
    ).all():
        conn.execute(text(f"GRANT USAGE ON SEQUENCE {sequence} TO {APP_ROLE}, {DEFINER_ROLE}"))


# The default a column has in effect: an identity column's is its sequence.
_COLUMNS = text(
    """
    SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
           CASE WHEN a.attidentity <> '' THEN
             format('nextval(%L::regclass)', pg_get_serial_sequence(
               quote_ident(:s) || '.' || quote_ident(:t), a.attname))
           ELSE pg_get_expr(d.adbin, d.adrelid) END AS default
      FROM pg_attribute a
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = (quote_ident(:s) || '.' || quote_ident(:t))::regclass
       AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum
    """
)


def _sync_columns(conn: Connection, schema: str, table: str) -> list[str]:
    want = {r.attname: r for r in conn.execute(_COLUMNS, {"s": "public", "t": table})}
    have = {r.attname: r for r in conn.execute(_COLUMNS, {"s": schema, "t": table})}
    target = f"{quote(schema)}.{quote(table)}"
    done = []
    for name in have.keys() - want.keys():
        conn.execute(text(f"ALTER TABLE {target} DROP COLUMN {quote(name)} CASCADE"))
        done.append(f"{table}: dropped column {name}")
    for name, col in want.items():
        if name not in have:
            default = f" DEFAULT {col.default}" if col.default else ""
            conn.execute(text(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {col.type}{default}"))
            done.append(f"{table}: added column {name}")
            have_col = None
        else:
            have_col = have[name]
        if have_col is not None and have_col.type != col.type:
            conn.execute(
                text(
                    f"ALTER TABLE {target} ALTER COLUMN {quote(name)} TYPE {col.type}"
                    f" USING {quote(name)}::{col.type}"
                )
            )
            done.append(f"{table}: column {name} is now {col.type}")
        if have_col is None or (have_col.default or None) != (col.default or None):
            if col.default:
                conn.execute(text(f"ALTER TABLE {target} ALTER COLUMN {quote(name)}"
                                  f" SET DEFAULT {col.default}"))
            elif have_col is not None:
                conn.execute(text(f"ALTER TABLE {target} ALTER COLUMN {quote(name)} DROP DEFAULT"))
        if have_col is None or have_col.attnotnull != col.attnotnull:
            action = "SET" if col.attnotnull else "DROP"
            conn.execute(text(f"ALTER TABLE {target} ALTER COLUMN {quote(name)} {action} NOT NULL"))
    return done


_INDEXES = text(
    """
    SELECT i.relname, pg_get_indexdef(i.oid) AS definition,
           EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid) AS of_constraint
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
     WHERE x.indrelid = (quote_ident(:s) || '.' || quote_ident(:t))::regclass
    """
)


def _sync_indexes(conn: Connection, schema: str, table: str) -> list[str]:
    want = {r.relname: r for r in conn.execute(_INDEXES, {"s": "public", "t": table})}
    have = {r.relname: r for r in conn.execute(_INDEXES, {"s": schema, "t": table})}
    done = []
    for name, idx in have.items():
        if name not in want and not idx.of_constraint:
            conn.execute(text(f"DROP INDEX {quote(schema)}.{quote(name)}"))
            done.append(f"{table}: dropped index {name}")
    for name, idx in want.items():
        if name not in have and not idx.of_constraint:
            definition = re.sub(
                r" ON (ONLY )?public\.", lambda m: f" ON {m.group(1) or ''}{quote(schema)}.",
                idx.definition, count=1,
            )
            conn.execute(text(definition))
            done.append(f"{table}: created index {name}")
    return done


_CONSTRAINTS = text(
    """
    SELECT conname, contype, pg_get_constraintdef(oid) AS definition
      FROM pg_constraint
     WHERE conrelid = (quote_ident(:s) || '.' || quote_ident(:t))::regclass
       AND contype IN ('p', 'u', 'f', 'c', 'x')
    """
)


def _sync_constraints(conn: Connection, schema: str, table: str) -> list[str]:
    # Definitions are printed with public first on the path (unqualified names) and applied
    # with the tenant schema first: a reference to a cell table lands in the tenant schema, a
    # reference to a control table in public.
    conn.execute(text("SET LOCAL search_path = public"))
    want = {r.conname: r for r in conn.execute(_CONSTRAINTS, {"s": "public", "t": table})}
    conn.execute(text(f"SET LOCAL search_path = {quote(schema)}, public"))
    have = {r.conname: r for r in conn.execute(_CONSTRAINTS, {"s": schema, "t": table})}
    target = f"{quote(schema)}.{quote(table)}"
    done = []
    # Compared by definition: LIKE ... INCLUDING ALL may name a copied constraint apart.
    want_defs = {(c.contype, c.definition): name for name, c in want.items()}
    have_defs = {(c.contype, c.definition): name for name, c in have.items()}
    for key, name in have_defs.items():
        if key not in want_defs:
            conn.execute(text(f"ALTER TABLE {target} DROP CONSTRAINT {quote(name)} CASCADE"))
            done.append(f"{table}: dropped constraint {name}")
    for key, name in want_defs.items():
        if key in have_defs:
            continue
        named = f"CONSTRAINT {quote(name)} " if name not in have else ""
        conn.execute(text(f"ALTER TABLE {target} ADD {named}{key[1]}"))
        done.append(f"{table}: added constraint {name}")
    # Not in a finally: after a failed statement the transaction is aborted and rolls back
    # (taking this SET LOCAL with it); a statement there would hide the first error.
    conn.execute(text("SET LOCAL search_path = public"))
    return done


_POLICIES = text(
    """
    SELECT policyname, permissive, cmd, roles, qual, with_check
      FROM pg_policies WHERE schemaname = :s AND tablename = :t
    """
)

_GRANTS = text(
    """
    SELECT r.rolname, a.privilege_type
      FROM pg_class c, aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
     WHERE c.oid = ('public.' || quote_ident(:t))::regclass
    """
)

_COLUMN_GRANTS = text(
    """
    SELECT r.rolname, a.privilege_type, att.attname
      FROM pg_attribute att, aclexplode(att.attacl) a JOIN pg_roles r ON r.oid = a.grantee
     WHERE att.attrelid = ('public.' || quote_ident(:t))::regclass AND att.attacl IS NOT NULL
    """
)


def _sync_security(conn: Connection, schema: str, table: str) -> None:
    """Same policies (through the same gate), FORCE, same grants as the shared table."""
    target = f"{quote(schema)}.{quote(table)}"
    conn.execute(text("SET LOCAL search_path = public"))
    wanted = conn.execute(_POLICIES, {"s": "public", "t": table}).all()
    for old in conn.execute(_POLICIES, {"s": schema, "t": table}).all():
        conn.execute(text(f"DROP POLICY {quote(old.policyname)} ON {target}"))
    for p in wanted:
        roles = ", ".join("PUBLIC" if r == "public" else quote(r) for r in p.roles)
        using = f" USING ({p.qual})" if p.qual else ""
        check = f" WITH CHECK ({p.with_check})" if p.with_check else ""
        conn.execute(
            text(
                f"CREATE POLICY {quote(p.policyname)} ON {target} AS {p.permissive}"
                f" FOR {p.cmd} TO {roles}{using}{check}"
            )
        )
    conn.execute(text(f"ALTER TABLE {target} ENABLE ROW LEVEL SECURITY"))
    conn.execute(text(f"ALTER TABLE {target} FORCE ROW LEVEL SECURITY"))
    conn.execute(text(f"REVOKE ALL ON {target} FROM PUBLIC, {APP_ROLE}, {DEFINER_ROLE}"))
    owner = conn.execute(text("SELECT current_user")).scalar_one()
    for grant in conn.execute(_GRANTS, {"t": table}).all():
        if grant.rolname != owner:
            conn.execute(
                text(f"GRANT {grant.privilege_type} ON {target} TO {quote(grant.rolname)}")
            )
    for grant in conn.execute(_COLUMN_GRANTS, {"t": table}).all():
        if grant.rolname != owner:
            conn.execute(
                text(
                    f"GRANT {grant.privilege_type} ({quote(grant.attname)}) ON {target}"
                    f" TO {quote(grant.rolname)}"
                )
            )
    # The mover and the purge act as the definer role (it bypasses RLS; the app never can).
    conn.execute(text(f"GRANT SELECT, INSERT, DELETE ON {target} TO {DEFINER_ROLE}"))


def drop(conn: Connection, schema: str) -> None:
    _checked(schema)
    conn.execute(text(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE"))
