"""A WSGI app served on 127.0.0.1 (a free port) in a thread while a ``with`` block runs: the
base of the test servers in this folder (oidc_op.py, receiver.py, http_stub.py). Test-only."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class LoopbackServer:
    def __init__(self, wsgi, **options) -> None:
        self._server = make_server("127.0.0.1", 0, wsgi, threaded=True, **options)
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()
