"""The Flask application class: Flask, minus two per-request costs of the floor page (issue 20).

Both remember an answer that can never change for the same input; nothing is skipped.
"""

from __future__ import annotations

import time

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

_CACHE_AT_MOST = 2000  # hooks and views are fixed once the app is built; more is not ours
_SCALARS = (str, bool, int, float, type(None))


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, verifying each distinct cookie once per process.

    Verifying the signature and decoding the payload is about 5 % of a minimal signed-in
    request, and a browser sends the very same cookie request after request. The payload of
    an exact cookie value under the same keys is always the same, so it is remembered with
    the time it was signed; the cookie's age is still checked on every request. Payloads
    holding anything mutable (a dict, a list) are not remembered, so a request can never
    change what the next one reads. Anything not remembered goes the usual way.
    """

    _verified: dict = {}

    def open_session(self, app, request):
        value = request.cookies.get(self.get_cookie_name(app))
        if not value or not app.secret_key:
            return super().open_session(app, request)
        key = (value, app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        max_age = int(app.permanent_session_lifetime.total_seconds())
        known = self._verified.get(key)
        if known is not None:
            items, signed_at = known
            if time.time() - signed_at <= max_age:
                return self.session_class(items)
        try:
            data, signed_at = self.get_signing_serializer(app).loads(
                value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if all(isinstance(v, _SCALARS) for v in data.values()):
            if len(self._verified) >= _CACHE_AT_MOST:
                self._verified.clear()
            self._verified[key] = (tuple(data.items()), signed_at.timestamp())
        return self.session_class(data)


class App(Flask):
    """Flask asks, for every hook and the view on every request, whether the function is a
    coroutine function (``inspect``, 25 calls and about 4 % of a minimal signed-in request's
    CPU). The answer never changes for a function, so it is asked once per function."""

    session_interface = CookieSessions()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync_functions: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync_functions[func]
        except KeyError:
            pass
        except TypeError:  # not hashable: ask each time, as Flask does
            return super().ensure_sync(func)
        sync = super().ensure_sync(func)
        if len(self._sync_functions) < _CACHE_AT_MOST:
            self._sync_functions[func] = sync
        return sync
