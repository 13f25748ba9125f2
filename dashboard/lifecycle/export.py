"""A verifiable JSON export of one org, read through the org's own RLS context.

The zip holds one JSON file per tenant table (a list of rows) and ``manifest.json`` with each
file's row count and SHA-256, so anyone can check the export without trusting Tenantdesk.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.table_kinds import GLOBAL_TABLES, NOT_EXPORTED

_TENANT_TABLES_SQL = text(
    """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relforcerowsecurity
     ORDER BY c.relname
    """
)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    row_counts: dict[str, int]


def tenant_tables(session: Session) -> list[str]:
    return [t for t in session.scalars(_TENANT_TABLES_SQL)
            if t not in GLOBAL_TABLES and t not in NOT_EXPORTED]


# The columns the runtime role may read: hashes (API key secrets, invitation tokens) are
# write-only for it, so they never leave in an export either.
_READABLE_COLUMNS_SQL = text(
    """
    SELECT quote_ident(attname) FROM pg_attribute
     WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped
       AND has_column_privilege(attrelid, attnum, 'SELECT')
     ORDER BY attnum
    """
)


def _rows_json(session: Session, table: str) -> bytes:
    # Identifiers come from the catalogue, never from input; RLS limits rows to this org.
    columns = ", ".join(session.scalars(_READABLE_COLUMNS_SQL, {"t": table}))
    rows = session.scalars(text(
        f'SELECT coalesce(json_agg(t ORDER BY t), \'[]\'::json)'
        f' FROM (SELECT {columns} FROM "{table}") t'
    )).one()
    return json.dumps(rows, indent=1, sort_keys=True, default=str).encode()


def write_export(session: Session, org_id, destination: Path) -> ExportResult:
    """Write the zip to ``destination`` (inside the caller's RLS context) and checksum it."""
    manifest = {"org_id": str(org_id), "created_at": datetime.now(UTC).isoformat(), "files": {}}
    counts: dict[str, int] = {}
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in tenant_tables(session):
            payload = _rows_json(session, table)
            count = len(json.loads(payload))
            counts[table] = count
            name = f"{table}.json"
            archive.writestr(name, payload)
            manifest["files"][name] = {
                "rows": count,
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    digest = hashlib.sha256(destination.read_bytes()).hexdigest()
    return ExportResult(destination, digest, counts)


def verify_export(path: Path) -> dict[str, int]:
    """Check every file against the manifest; return row counts. Raises ValueError if not."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        counts = {}
        for name, entry in manifest["files"].items():
            payload = archive.read(name)
            if hashlib.sha256(payload).hexdigest() != entry["sha256"]:
                raise ValueError(f"{name}: checksum does not match the manifest")
            if len(json.loads(payload)) != entry["rows"]:
                raise ValueError(f"{name}: row count does not match the manifest")
            counts[name.removesuffix(".json")] = entry["rows"]
        extra = set(archive.namelist()) - set(manifest["files"]) - {"manifest.json"}
        if extra:
            raise ValueError(f"files not in the manifest: {sorted(extra)}")
    return counts
