"""A loopback HTTP server whose answers a test scripts: a document, a slow trickle, a huge
body or a redirect. Records which paths were requested. Test-only."""

from __future__ import annotations

import threading
import time

from werkzeug.wrappers import Request, Response

from tests.support.loopback import LoopbackServer


class StubHTTP(LoopbackServer):
    def __init__(self) -> None:
        self.routes: dict = {}  # path -> Response, or a function making one
        self.requested: list[str] = []
        self._stop = threading.Event()
        super().__init__(self._wsgi)

    def __exit__(self, *exc) -> None:
        self._stop.set()  # a trickle in progress ends
        super().__exit__(*exc)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.requested.append(request.path)
        route = self.routes.get(request.path)
        if route is None:
            response = Response("not found", 404)
        else:
            response = route if isinstance(route, Response) else route()
        return response(environ, start_response)

    def serve(self, path: str, body: str | bytes, content_type: str = "application/xml") -> str:
        self.routes[path] = Response(body, content_type=content_type)
        return self.base + path

    def trickle(self, path: str, seconds: float) -> str:
        """A body that drips one byte every 0.1 s for ``seconds`` (until the test ends)."""
        def generate():
            end = time.monotonic() + seconds
            while time.monotonic() < end and not self._stop.is_set():
                yield b" "
                time.sleep(0.1)

        self.routes[path] = lambda: Response(generate(), content_type="application/xml")
        return self.base + path

    def huge(self, path: str, megabytes: int) -> str:
        def generate():
            chunk = b"<x>" + b" " * 65530 + b"</x>"
            for _ in range(megabytes * 16):
                if self._stop.is_set():
                    return
                yield chunk

        self.routes[path] = lambda: Response(generate(), content_type="application/xml")
        return self.base + path

    def redirect(self, path: str, location: str) -> str:
        self.routes[path] = Response(status=302, headers={"Location": location})
        return self.base + path
