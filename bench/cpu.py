"""CPU time per request, app and PostgreSQL apart: a figure that a busy, shared machine
disturbs far less than requests/s (which depend on how much CPU others leave us)."""

from __future__ import annotations

from pathlib import Path

import psutil
import psycopg

from dashboard import provisioning


def postmaster_pid(admin: str) -> int | None:
    """The server's postmaster, when it runs on this machine and we may read its data dir."""
    try:
        with psycopg.connect(provisioning.libpq_url(admin), connect_timeout=5) as conn:
            data = conn.execute("SHOW data_directory").fetchone()[0]
        return int((Path(data) / "postmaster.pid").read_text().split("\n")[0])
    except (OSError, ValueError, psycopg.Error):
        return None


def _tree_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


class CpuMeter:
    def __init__(self, app_pid: int, db_pid: int | None) -> None:
        self.app_pid, self.db_pid = app_pid, db_pid

    def __enter__(self) -> CpuMeter:
        self.app0, self.db0 = _tree_seconds(self.app_pid), _tree_seconds(self.db_pid)
        return self

    def __exit__(self, *exc) -> None:
        self.app = _tree_seconds(self.app_pid) - self.app0
        self.db = _tree_seconds(self.db_pid) - self.db0 if self.db_pid else None

    def per_request(self, requests: int) -> dict:
        """Milliseconds of CPU per request in the app (gunicorn) and in PostgreSQL."""
        n = max(requests, 1)
        out = {"app_ms": round(self.app * 1000 / n, 3)}
        if self.db is not None:
            out["db_ms"] = round(self.db * 1000 / n, 3)
            out["total_ms"] = round(out["app_ms"] + out["db_ms"], 3)
        return out
