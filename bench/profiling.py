"""Where a page's time goes: py-spy samples the gunicorn workers while wrk loads the page.

Two samplers run at once: one sees only threads on the CPU ("cpu"), the other every thread
serving a request, waiting or not ("wall"). Samples are grouped by the layer of their
innermost frame, plus the inclusive share of a few named steps of a request. The raw
collapsed stacks are kept in bench/out/ for a flame graph.
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
    ("charts (SVG geometry)", ("usage/charts.py",)),
    ("forms, CSRF, signing (WTForms, Flask-WTF, itsdangerous)", ("flask_wtf/", "wtforms/",
                                                            "itsdangerous/", "hmac.py")),
    ("Flask-Login", ("flask_login/",)),
    ("Flask", ("flask/",)),
    ("Werkzeug (routing, request/response)", ("werkzeug/",)),
    ("gunicorn (HTTP parsing, sockets)", ("gunicorn/",)),
    ("Tenantdesk code", ("dashboard/",)),
]
# Steps of a request, by a frame that marks them (inclusive share of the samples).
FUNCTIONS = {
    "session check (principal.load_principal)": "load_principal (dashboard/",
    "RLS context (tenancy._apply_context)": "_apply_context (dashboard/",
    "commit at response (tenancy._finish)": "_finish (dashboard/",
    "template rendering (render_template)": "render_template (flask/",
    "signed cookie read (open_session)": "open_session (flask/",
    "signed cookie write (save_session)": "save_session (flask/",
    "CSRF token (generate_csrf)": "generate_csrf (flask_wtf/",
    "pool checkout + pre-ping": "_checkout (sqlalchemy/",
    "security headers (security._headers)": "_headers (dashboard/",
}


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        print("  installing py-spy from PyPI (profiling only)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return found


def record(master_pid: int, seconds: int, name: str, load) -> dict:
    """Sample the workers for ``seconds`` while ``load()`` runs; return both summaries."""
    OUT.mkdir(exist_ok=True)
    samplers, files = [], {}
    for kind in ("cpu", "wall"):
        files[kind] = OUT / f"profile-{name}-{kind}.txt"
        files[kind].unlink(missing_ok=True)
        command = [py_spy(), "record", "--pid", str(master_pid), "--subprocesses",
                   "--rate", "200", "--duration", str(seconds), "--format", "raw",
                   "--nonblocking", "-o", str(files[kind])]
        if kind == "wall":
            command.append("--idle")
        if os.geteuid() != 0:
            command.insert(0, "sudo")
        sampler = threading.Thread(target=subprocess.run, args=(command,),
                                   kwargs={"capture_output": True, "check": False},
                                   daemon=True)
        sampler.start()
        samplers.append(sampler)
    load()
    for sampler in samplers:
        sampler.join(seconds + 30)
    out = {}
    for kind, raw in files.items():
        out[kind] = (summarise(raw) if raw.exists()
                     else {"error": "py-spy wrote nothing (is ptrace allowed here?)"})
    return out


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
            if any(marker in f for f in frames):
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
