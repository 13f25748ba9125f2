"""Account work that runs after the response has been sent.

A forgot-password or sign-up request answers at once with the same page whatever the
address; looking the address up, writing the link and mailing it happen here, on a small
thread pool, so neither the answer nor its timing tells whether an account exists.
Each job runs in an app context with its own database session (``tenancy.scoped_session``).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)
_KEY = "tenantdesk.accounts.background"


class Background:
    def __init__(self, app, workers: int = 2) -> None:
        self._app = app
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="accounts-bg")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, job, *args) -> None:
        def run():
            with self._app.app_context():
                try:
                    job(*args)
                except Exception:  # logged; the person can simply ask again
                    log.exception("account background job %s failed", job.__name__)

        future = self._executor.submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for the jobs submitted so far (tests, and a clean shutdown)."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)


def init_app(app) -> None:
    app.extensions[_KEY] = Background(app)


def background(app=None) -> Background:
    from flask import current_app

    return (app or current_app).extensions[_KEY]
