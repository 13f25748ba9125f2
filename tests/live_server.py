"""The app served by a real, threaded WSGI server on loopback, for browsers and HTTP clients.

``LiveServer.start(make)`` binds a free port first and then builds the app with ``make(url)``,
so the app's own ``BASE_URL`` (links in mails, redirects) is the address it really listens on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from werkzeug.serving import make_server


class LiveServer:
    def __init__(self) -> None:
        self.app = None
        self._server = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def _dispatch(self, environ, start_response):
        return self.app(environ, start_response)

    def start(self, make_app: Callable[[str], object]) -> LiveServer:
        """Serve ``make_app(url)``: any WSGI app (Tenantdesk, or a fake IdP for its tests)."""
        # threaded=True: one thread per request, like a real deployment under load.
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.app = make_app(self.url)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="live-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        database = getattr(self.app, "extensions", {}).get("tenantdesk.db")
        if database is not None:
            database.dispose()

    def __call__(self, path: str = "/") -> str:
        """``live_server("/login")`` -> the absolute URL of that path."""
        return self.url + path
