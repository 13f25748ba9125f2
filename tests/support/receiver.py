"""A real HTTP receiver on loopback for webhooks and audit streams. Test-only.

Records every request (path, headers, body). Each path answers from a script: a list of
statuses used one per request (the last repeats), and an optional delay (a slow receiver).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from tests.support.loopback import LoopbackServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic
    wall: float = 0.0  # time.time(), to compare with timestamps in the body


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # no line per request
        pass


class Receiver(LoopbackServer):
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, list[int]] = {}
        self.delays: dict[str, float] = {}
        self._lock = threading.Lock()
        super().__init__(self._wsgi, request_handler=_Quiet)

    def url(self, path: str, statuses=(200,), delay: float = 0.0) -> str:
        self.scripts[path] = list(statuses)
        self.delays[path] = delay
        return self.base + path

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        delay = self.delays.get(request.path, 0.0)
        if delay:
            time.sleep(delay)
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body,
                                          time.monotonic(), time.time()))
            script = self.scripts.get(request.path, [404])
            status = script.pop(0) if len(script) > 1 else script[0]
        return Response(f"status {status}", status)(environ, start_response)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 15.0, pump=None) -> list:
        """Wait until ``count`` requests reached ``path``; ``pump()`` runs between looks
        (e.g. one worker round)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.at(path)
            if len(got) >= count:
                return got
            if pump is not None:
                pump()
            else:
                time.sleep(0.05)
        raise AssertionError(f"{path}: {len(self.at(path))} of {count} requests arrived")
