"""Server time per request of an app driven in-process (bench_members.py, bench_switch.py):
a WSGI wrapper and the percentile of its samples."""

from __future__ import annotations

import time


class Timed:
    """WSGI middleware: records server time per request into ``samples``, from the call into
    the app until its body is produced and closed."""

    def __init__(self, app) -> None:
        self.app = app
        self.samples: list[float] = []

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()  # teardown (and so the session release) is server work too
        self.samples.append(time.perf_counter() - started)
        return [body]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``: the nearest sample."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
