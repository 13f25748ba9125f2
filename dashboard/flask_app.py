"""The Flask application class: Flask, minus four per-request costs (issue 20).

Each remembers an answer that can never change for the same input; nothing is skipped.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Hashable

from flask import Flask
from flask.globals import _cv_app, _cv_request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

_CACHE_AT_MOST = 2000  # hooks and views are fixed once the app is built; more is not ours
_SCALARS = (str, bool, int, float, type(None))
_URL_VALUES = (str, int, uuid.UUID, type(None))  # what a URL built here is made of
_built_urls: dict = {}
_urls_for: dict = {}  # App.url_for's memo


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
    # Flask's default is hashlib.sha1 looked up on first use (for FIPS builds); given as a
    # Python function, hmac runs its pure-Python implementation. The same HMAC-SHA1 in C.
    digest_method = staticmethod(hashlib.sha1)
    _serializers: dict = {}

    def get_signing_serializer(self, app):
        """Flask's serializer, built once per set of keys (building it serializes an empty
        payload to learn that the serializer makes text; it keeps no state of a request)."""
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            if len(self._serializers) >= _CACHE_AT_MOST:
                self._serializers.clear()
            self._serializers[key] = serializer
        return serializer

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
        self._keyed_defaults: list[tuple[Callable, Callable[[object], Hashable]]] = []
        self._url_memo: bool | None = None  # decided once the app serves (see url_for)

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

    def create_url_adapter(self, request):
        adapter = super().create_url_adapter(request)
        if adapter is not None:
            adapter.build = _remembering_build(adapter)
        return adapter

    def url_defaults_keyed(self, state: Callable[[object], Hashable]):
        """Register a ``url_defaults`` hook whose only input besides the endpoint and the
        values is ``state(g)`` (e.g. the current org's slug, from the request's ``g``, given
        as the object, not the proxy): URLs built under it may then be remembered, keyed on
        that state too (``url_for``)."""

        def register(hook):
            self.url_defaults(hook)
            self._keyed_defaults.append((hook, state))
            return hook

        return register

    def url_for(self, endpoint, /, *, _anchor=None, _method=None, _scheme=None,
                _external=None, **values):
        """Flask's, remembering each URL built in a request (a page builds about 30, most
        of them the same on every request: the layout, the navigation, the org's links).

        Flask's answer there depends only on the endpoint, the values, the request's URL
        adapter (host, script root, subdomain, scheme: ``_remembering_build``'s key) and
        what the ``url_defaults`` hooks add; so the memo is used only while every hook is
        one registered with ``url_defaults_keyed`` (its state is in the key) and no build
        error handler is registered, for plain values, an absolute endpoint and none of
        the ``_`` options. Anything else, and every error, goes Flask's way.
        """
        context = _cv_request.get(None)
        if (context is None or _anchor is not None or _method is not None
                or _scheme is not None or _external is not None or endpoint[:1] == "."
                or not self._url_memo_usable()
                or not all(type(v) in _URL_VALUES for v in values.values())):
            return super().url_for(endpoint, _anchor=_anchor, _method=_method,
                                   _scheme=_scheme, _external=_external, **values)
        adapter = context.url_adapter
        request_g = _cv_app.get().g
        key = (getattr(adapter, "memo_key", adapter), endpoint, tuple(values.items()),
               tuple(state(request_g) for _, state in self._keyed_defaults))
        url = _urls_for.get(key)
        if url is None:
            url = super().url_for(endpoint, **values)
            if len(_urls_for) >= _CACHE_AT_MOST:
                _urls_for.clear()
            _urls_for[key] = url
        return url

    def _url_memo_usable(self) -> bool:
        if self._url_memo is None:
            if not self._got_first_request:  # hooks may still be registered
                return False
            keyed = {hook for hook, _ in self._keyed_defaults}
            self._url_memo = not self.url_build_error_handlers and all(
                hook in keyed for hooks in self.url_default_functions.values() for hook in hooks)
        return self._url_memo


def _remembering_build(adapter):
    """``adapter.build``, remembering each URL it built (a page builds about 30, most of them
    the same on every request: the navigation, the org's own links).

    A URL depends only on the endpoint, the values, the build options and what the adapter
    was bound to (host, script root, subdomain, scheme), so those are the key; the URL map
    is fixed once the app serves. Values other than plain strings, numbers and UUIDs go the
    usual way, and so does every error (nothing is remembered but a built URL)."""
    build = adapter.build
    bound = (adapter.map, adapter.server_name, adapter.script_name, adapter.subdomain,
             adapter.url_scheme)
    adapter.memo_key = bound  # App.url_for's key too

    def remembering(endpoint, values=None, method=None, force_external=False,
                    append_unknown=True, url_scheme=None):
        if not values:
            items = ()
        elif type(values) is dict and all(type(v) in _URL_VALUES for v in values.values()):
            items = tuple(values.items())  # in order: it is the order of the query string
        else:
            return build(endpoint, values, method, force_external, append_unknown, url_scheme)
        key = (bound, endpoint, items, method, force_external, append_unknown, url_scheme)
        url = _built_urls.get(key)
        if url is None:
            url = build(endpoint, values, method, force_external, append_unknown, url_scheme)
            if len(_built_urls) >= _CACHE_AT_MOST:
                _built_urls.clear()
            _built_urls[key] = url
        return url

    return remembering
