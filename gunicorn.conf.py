"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be overridden from the environment (GUNICORN_BIND, GUNICORN_WORKERS,
GUNICORN_THREADS, GUNICORN_TIMEOUT) or on the command line. Each worker builds its own app
and database pool: workers x DB_POOL_SIZE (+ overflow) connections per server, so size
PostgreSQL's max_connections, or PgBouncer's pool, for all servers together.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")  # the reverse proxy talks to this
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"  # threads overlap waiting on PostgreSQL, SMTP and IdPs
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
max_requests = 5000  # recycle workers now and then (jittered, so never all at once)
max_requests_jitter = 500
preload_app = False  # one app (and pool) per worker, built after the fork
accesslog = None  # the app writes one line per request (route, not the raw path: no tokens)
errorlog = "-"
# HTTP parser: named, not "auto", which would pick up whichever gunicorn_h1c (C parser) a
# deployment happens to have, even releases older than gunicorn's own floor. The pure-Python
# one: the C parser saves ~5 us of ~250 per request here (bench/ab_http_parser.py), and the
# registry has no gunicorn_h1c that gunicorn 27 accepts (`gunicorn[fast]` made pip downgrade
# gunicorn to 26.2 instead). tests/security/test_http_parsing.py runs malformed and smuggled
# requests through both; switch to "fast" (failing loudly when it is missing) once a
# gunicorn_h1c >= gunicorn's floor is installable.
http_parser = "python"
# The client address, scheme and host behind the proxy: the app's ProxyFix, configured by
# TRUSTED_PROXY_HOPS.

# Prometheus: every worker writes its samples under one directory, and /metrics on any
# worker answers for all of them. Emptied when the server starts.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tenantdesk-prometheus-")
)


def on_starting(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
