"""Start and stop gunicorn on loopback for one benchmark phase."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


@dataclass(frozen=True)
class Gunicorn:
    """2 cores: one worker process per core, and threads so a worker keeps its core busy
    while one request waits on PostgreSQL (which runs on the same two cores)."""

    workers: int = 2
    threads: int = 4
    worker_class: str = "gthread"
    http_parser: str = "python"  # as gunicorn.conf.py names it (see there)

    def args(self) -> list[str]:
        # No worker recycling (gunicorn.conf.py sets max_requests for production): a recycled
        # worker takes its CPU seconds with it, and the CPU-per-request figure would drop (the
        # trivial route's, at 4,000 req/s, went negative).
        return ["--workers", str(self.workers), "--threads", str(self.threads),
                "--worker-class", self.worker_class, "--max-requests", "0",
                "--http-parser", self.http_parser]

    def describe(self) -> dict:
        return {"workers": self.workers, "threads": self.threads,
                "worker_class": self.worker_class, "http_parser": self.http_parser}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(target: str, settings: Gunicorn, env: dict | None = None, *, chdir: Path = ROOT,
          ready_path: str = "/login", name: str = "app") -> Iterator[tuple[str, int]]:
    """Run ``gunicorn target`` until the block ends; yields (base URL, master pid)."""
    OUT.mkdir(exist_ok=True)
    port = free_port()
    log = (OUT / f"gunicorn-{name}.log").open("w")
    command = [str(Path(sys.executable).with_name("gunicorn")), *settings.args(),
               "--bind", f"127.0.0.1:{port}", "--chdir", str(chdir), target]
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=log,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base + ready_path, process, log.name)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen, log: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} in {timeout:.0f} s; see {log}")
