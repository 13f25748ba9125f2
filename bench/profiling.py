"""Where a page's time goes: py-spy samples the gunicorn workers while wrk loads the page.

Samples of request-handling threads are grouped by the layer of their innermost frame (the
code on the CPU, or waiting, at that moment), plus the inclusive share of a few functions
of ours. The raw collapsed stacks are kept in bench/out/ for a flame graph.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

# Innermost matching frame decides the layer; first match in this order wins per frame.
LAYERS = [
    ("PostgreSQL round trips (psycopg, incl. waiting)", ("psycopg/", "psycopg_pool/")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("Jinja2 templates", ("jinja2/", "templates/", ".html")),
    ("CSRF / signing (Flask-WTF, itsdangerous, hashlib)", ("flask_wtf/", "wtforms/",
                                                            "itsdangerous/", "hmac.py")),
    ("Flask-Login", ("flask_login/",)),
    ("Flask", ("flask/",)),
    ("Werkzeug (routing, request/response)", ("werkzeug/",)),
    ("gunicorn (HTTP parsing, sockets)", ("gunicorn/",)),
    ("Tenantdesk code", ("dashboard/",)),
]
FUNCTIONS = {
    "session check (principal.load_principal)": "load_principal (",
    "RLS context (tenancy._apply_context)": "_apply_context (",
    "commit/close at response (tenancy._finish)": "_finish (",
    "render_template": "render_template (",
    "security headers (security._headers)": "_headers (",
}


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        print("  installing py-spy from PyPI (profiling only)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return found


def record(master_pid: int, seconds: int, name: str, load) -> dict:
    """Sample the workers for ``seconds`` while ``load()`` runs; return the summary."""
    OUT.mkdir(exist_ok=True)
    raw = OUT / f"profile-{name}.txt"
    command = [py_spy(), "record", "--pid", str(master_pid), "--subprocesses", "--idle",
               "--rate", "250", "--duration", str(seconds), "--format", "raw",
               "--nonblocking", "-o", str(raw)]
    if os.geteuid() != 0:
        command.insert(0, "sudo")
    sampler = threading.Thread(
        target=subprocess.run, args=(command,),
        kwargs={"capture_output": True, "check": False}, daemon=True)
    sampler.start()
    load()
    sampler.join(seconds + 30)
    if not raw.exists():
        return {"error": "py-spy wrote nothing (is ptrace allowed here?)"}
    return summarise(raw)


def summarise(raw: Path) -> dict:
    layers: Counter = Counter()
    functions: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "handle (" not in stack:  # a thread serving a request
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        layers[_layer(frames)] += n
        for label, marker in FUNCTIONS.items():
            if any(marker in f and "dashboard/" in f for f in frames):
                functions[label] += n
    if not total:
        return {"error": "no request samples"}
    share = lambda c: {k: round(100 * v / total, 1) for k, v in c.most_common()}  # noqa: E731
    return {"samples": total, "layers_pct": share(layers), "inclusive_pct": share(functions),
            "raw": str(raw.relative_to(OUT.parent.parent))}


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, markers in LAYERS:
            if any(m in frame for m in markers):
                return label
    return "other (stdlib, threads)"
