"""Malformed HTTP never reaches the app: a real gunicorn with the settings we ship
(gunicorn.conf.py), on a free port, answers each one itself, for every HTTP parser gunicorn
may use (its pure-Python parser and, where installed, gunicorn_h1c's C parser).

The app behind it (tests/security/http_probe_app.py) notes each request it sees, so "never
reached the app" is checked, not assumed. Request smuggling cases (both Content-Length and
Transfer-Encoding, two Content-Lengths, an unknown transfer coding) also check that the
request hidden in the body is not served.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time

import pytest

from dashboard.config import PROJECT_ROOT

HAS_C_PARSER = importlib.util.find_spec("gunicorn_h1c") is not None
# The parser gunicorn.conf.py names; see the comment there for why it is not the C parser.
SHIPPED_PARSER = "python"

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
MALFORMED = {
    "garbage request line": (b"GARBAGE\r\n\r\n", 400),
    "bad method token": (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "unknown HTTP version": (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    "bare LF line ends": (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    "NUL in the target": (b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "obsolete line folding": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    "control byte in a value": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400),
    "request line too long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "header too large": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "too many headers": (
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(120)) + b"\r\n",
        431,
    ),
    "Content-Length and Transfer-Encoding": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 41\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "Transfer-Encoding and Content-Length": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 41\r\n"
        b"\r\n0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "two Content-Lengths": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 36\r\n\r\n" + SMUGGLED,
        400,
    ),
    "Content-Length not a number": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +36\r\n\r\n" + SMUGGLED,
        400,
    ),
    "chunked twice": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
        b"0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "chunked on HTTP/1.0": (
        b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "Transfer-Encoding not ending in chunked": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + SMUGGLED,
        400,
    ),
    "unknown transfer coding": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n" + SMUGGLED,
        (400, 501),  # 501 from the Python parser and gunicorn_h1c releases that tell it apart
    ),
}

PARSERS = [
    "python",
    pytest.param(
        "fast",
        marks=pytest.mark.skipif(
            not HAS_C_PARSER, reason="gunicorn_h1c is not installed (see gunicorn.conf.py)"
        ),
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw``, then read the answer until gunicorn closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)  # no more input: the answer, then the close
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]
    return int(answer.split(b" ", 2)[1])


class Server:
    def __init__(self, port: int, log_path) -> None:
        self.port, self.log_path = port, log_path

    def reached(self) -> list[str]:
        return self.log_path.read_text().splitlines() if self.log_path.exists() else []


@pytest.fixture(scope="module", params=PARSERS)
def server(request, tmp_path_factory):
    """gunicorn -c gunicorn.conf.py, the parser under test forced on the command line."""
    directory = tmp_path_factory.mktemp(f"http-{request.param}")
    port = _free_port()
    log_path = directory / "reached.log"
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
        "HTTP_PROBE_LOG": str(log_path),
        "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus"),
    }
    with open(directory / "gunicorn.log", "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--http-parser",
                request.param,
                "tests.security.http_probe_app:app",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (directory / "gunicorn.log").read_text()
            try:
                if _status(_exchange(port, b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")) == 200:
                    break
            except (OSError, AssertionError):
                assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
                time.sleep(0.1)
        yield Server(port, log_path)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_well_formed_request_reaches_the_app(server):
    before = len(server.reached())
    answer = _exchange(server.port, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n")
    assert _status(answer) == 200 and answer.endswith(b"ok")
    assert server.reached()[before:] == ["GET /hello"]


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_is_refused_before_the_app(server, case):
    raw, expected = MALFORMED[case]
    before = len(server.reached())
    answer = _exchange(server.port, raw)
    status = _status(answer)
    assert status in (expected if isinstance(expected, tuple) else (expected,)), answer[:300]
    assert b"ok" not in answer.split(b"\r\n\r\n", 1)[-1]
    assert server.reached()[before:] == []  # neither the request nor one smuggled in it


def test_shipped_settings_name_the_parser_they_are_tested_with():
    """gunicorn.conf.py names its HTTP parser rather than leaving it to "auto", which would
    switch to whichever gunicorn_h1c a deployment happens to have (auto accepts releases
    older than gunicorn's own floor). It names the pure-Python parser: the C parser brings
    ~5 us per request here, and the registry has no gunicorn_h1c that gunicorn 27 accepts
    (gunicorn[fast] would make pip downgrade gunicorn instead)."""
    settings = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; print(runpy.run_path('gunicorn.conf.py')['http_parser'])",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": "/nonexistent-unused"},
    )
    assert settings.stdout.strip() == SHIPPED_PARSER
