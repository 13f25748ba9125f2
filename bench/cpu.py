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


def _tree_seconds(pid: int | None) -> dict[int, float]:
    """CPU seconds of ``pid`` and each of its descendants, by process id."""
    if pid is None:
        return {}
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
        except psutil.Error:
            continue
    return seconds


def _spent(before: dict[int, float], after: dict[int, float]) -> tuple[float, int]:
    """CPU seconds spent between two samples, per process: a process that ended in between
    took its seconds with it (it is counted as lost, never subtracted)."""
    spent = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return spent, len(set(before) - set(after))


class CpuMeter:
    def __init__(self, app_pid: int, db_pid: int | None) -> None:
        self.app_pid, self.db_pid = app_pid, db_pid

    def __enter__(self) -> CpuMeter:
        self.app0, self.db0 = _tree_seconds(self.app_pid), _tree_seconds(self.db_pid)
        return self

    def __exit__(self, *exc) -> None:
        self.app, lost_app = _spent(self.app0, _tree_seconds(self.app_pid))
        db, lost_db = _spent(self.db0, _tree_seconds(self.db_pid))
        self.db = db if self.db_pid else None
        self.lost_processes = lost_app + lost_db

    def per_request(self, requests: int) -> dict:
        """Milliseconds of CPU per request in the app (gunicorn) and in PostgreSQL."""
        n = max(requests, 1)
        out = {"app_ms": round(self.app * 1000 / n, 3)}
        if self.lost_processes:
            out["processes_ended"] = self.lost_processes  # their CPU is missing
        if self.db is not None:
            out["db_ms"] = round(self.db * 1000 / n, 3)
            out["total_ms"] = round(out["app_ms"] + out["db_ms"], 3)
        return out
