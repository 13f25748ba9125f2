"""Put one org back from its export (the zip of dashboard/lifecycle/export.py).

``restore_org(admin_url, path)``: checks the zip against its manifest, refuses when the org
still exists, then in one transaction inserts every table's rows with
``json_populate_recordset`` (PostgreSQL's inverse of the ``json_agg`` that wrote them),
tables in foreign-key order, identity values kept (and their sequences moved past them),
and compares each table's row count with the manifest. Needs a role that bypasses row-level
security (a superuser or the DBA's BYPASSRLS role): FORCE RLS binds even the table owner.
The org's people must still exist (users are global, never part of an export).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from dashboard.lifecycle.export import verify_export


class RestoreRefused(Exception):
    pass


@dataclass(frozen=True)
class Restored:
    org_id: str
    row_counts: dict[str, int]


_FK_SQL = text(
    """
    SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.conrelid <> c.confrelid
    """
)
_COLUMNS_SQL = text(
    """
    SELECT column_name, is_identity = 'YES' AS identity, data_type,
           is_nullable = 'NO' AND column_default IS NULL AS required
      FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = :t AND is_generated = 'NEVER'
    """
)

# Exports never carry secrets (the runtime role cannot read hash columns): a restored
# invitation or credential gets a random hash nobody knows the preimage of, so its old link or
# key stays dead; resend the invitation or create a new key.
_DEAD_SECRET = {"bytea": "sha256(convert_to(gen_random_uuid()::text, 'UTF8'))",
                "text": "encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex')"}


def _order(tables: list[str], edges) -> list[str]:
    """Parents before children (tables outside the export impose nothing)."""
    parents = {t: set() for t in tables}
    for child, parent in edges:
        if child in parents and parent in parents:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, waiting in parents.items() if not waiting - set(ordered))
        if not ready:
            raise RestoreRefused(f"foreign keys form a cycle among {sorted(parents)}")
        for table in ready:
            ordered.append(table)
            del parents[table]
    return ordered


def restore_org(admin_url: str, path: Path) -> Restored:
    expected = verify_export(path)  # raises ValueError when the zip was altered
    with zipfile.ZipFile(path) as archive:
        org_id = json.loads(archive.read("manifest.json"))["org_id"]
        payloads = {table: archive.read(f"{table}.json").decode() for table in expected}
    engine = create_engine(admin_url)
    try:
        with engine.begin() as db:
            if db.execute(text("SELECT 1 FROM organizations WHERE id = :o"),
                          {"o": org_id}).first():
                raise RestoreRefused(f"org {org_id} exists; restore only a deleted org")
            known = set(db.scalars(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")))
            missing = sorted(set(payloads) - known)
            if missing:
                raise RestoreRefused(f"tables of the export are not in this schema: {missing}")
            for table in _order(sorted(payloads), db.execute(_FK_SQL).all()):
                _insert(db, table, payloads[table])
            counts = {t: _count(db, t, org_id) for t in payloads}
            if counts != expected:
                raise RestoreRefused(f"row counts differ from the manifest: {counts}")
    finally:
        engine.dispose()
    return Restored(org_id, counts)


def _count(db, table: str, org_id: str) -> int:
    has_org_id = db.execute(text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = :t AND column_name = 'org_id'"), {"t": table}).first()
    column = "org_id" if has_org_id else "id"  # organizations itself
    return db.execute(text(f'SELECT count(*) FROM "{table}" WHERE "{column}" = :o'),
                      {"o": org_id}).scalar_one()


def _insert(db, table: str, payload: str) -> None:
    rows = json.loads(payload)
    if not rows:
        return
    columns = db.execute(_COLUMNS_SQL, {"t": table}).all()
    names = [c.column_name for c in columns if c.column_name in rows[0]]
    dead = [c for c in columns if c.column_name not in rows[0] and c.required
            and c.column_name.endswith("_hash") and c.data_type in _DEAD_SECRET]
    listed = ", ".join(f'"{n}"' for n in [*names, *(c.column_name for c in dead)])
    selected = ", ".join([*(f'"{n}"' for n in names), *(_DEAD_SECRET[c.data_type] for c in dead)])
    # Identifiers come from the catalogue; the rows travel as one bound JSON parameter.
    db.execute(text(
        f'INSERT INTO "{table}" ({listed}) OVERRIDING SYSTEM VALUE'
        f' SELECT {selected} FROM json_populate_recordset(NULL::"{table}", CAST(:rows AS json))'
    ), {"rows": payload})
    for column in (c.column_name for c in columns if c.identity):
        db.execute(text(
            f"SELECT setval(pg_get_serial_sequence(:t, :c), max(\"{column}\"))"
            f' FROM "{table}" HAVING max("{column}") >'
            " coalesce(pg_sequence_last_value(pg_get_serial_sequence(:t, :c)::regclass), 0)"
        ), {"t": table, "c": column})
