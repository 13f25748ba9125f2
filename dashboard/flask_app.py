"""The Flask application class: Flask, minus five per-request costs (issue 20).

Each remembers an answer that can never change for the same input; nothing is skipped.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from functools import cached_property

from flask import Flask, Request
from flask.globals import _cv_app, _cv_request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadData, BadSignature
from itsdangerous.encoding import base64_decode, bytes_to_int
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie  # what Request.cookies uses (no re-decoding)

_CACHE_AT_MOST = 2000  # hooks and views are fixed once the app is built; more is not ours
_SCALARS = (str, bool, int, float, type(None))
_URL_VALUES = (str, int, uuid.UUID, type(None))  # what a URL built here is made of
_built_urls: dict = {}
_urls_for: dict = {}  # App.url_for's answers


_parsed_cookies: dict = {}  # a Cookie header -> its parsed, immutable cookies
_COOKIES_AT_MOST = 512  # headers of up to 4 KB each: a bounded few MB at worst


class CookieRequest(Request):
    """Flask's request, parsing each distinct ``Cookie`` header once per process (issue 20).

    A browser sends the very same header request after request, and the parsed cookies are
    an immutable mapping that depends on the header's text alone, so requests can share it.
    Werkzeug joins every environ entry it reads as a ``Cookie`` header; a WSGI environ holds
    at most one, ``HTTP_COOKIE`` (PEP 3333), read here without walking the whole environ."""

    @cached_property
    def cookies(self):
        header = self.environ.get("HTTP_COOKIE", "")
        parsed = _parsed_cookies.get(header)
        if parsed is None:
            parsed = parse_cookie(header, cls=self.dict_storage_class)
            if len(header) <= 4096 and isinstance(parsed, ImmutableMultiDict):
                if len(_parsed_cookies) >= _COOKIES_AT_MOST:
                    _parsed_cookies.clear()
                _parsed_cookies[header] = parsed
        return parsed


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


    def save_session(self, app, session, response):
        """Flask's, with its most frequent answer written directly (issue 20: the floor): a
        request that read a non-empty session and left it as it was sets no cookie and adds
        ``Vary: Cookie``. Flask adds that header through ``response.vary`` (parsing the header
        into a set and writing it back), about 3 % of a minimal signed-in request; on a
        response that has no ``Vary`` yet, the header it writes is exactly ``Cookie``.
        Everything else (a cookie to set or delete, a ``Vary`` already there) is Flask's."""
        if session and session.accessed and not self.should_set_cookie(app, session) \
                and "Vary" not in response.headers:
            response.headers["Vary"] = "Cookie"
            return None
        result = super().save_session(app, session, response)
        if session and app.secret_key and self.should_set_cookie(app, session):
            self._remember_issued(app, session, response)
        return result

    def _remember_issued(self, app, session, response) -> None:
        """The cookie just signed, remembered as if verified: the browser sends it back
        next, and in this worker its signature need not be checked again (issue 20: an org
        switch issues a new cookie every time, so every switch verified one afresh). Its
        payload is this session's own items, its time the one signed into it; only a
        payload of plain scalars, as for a verified one."""
        items = tuple(session.items())
        if not all(type(v) in _SCALARS for _, v in items):
            return
        prefix = self.get_cookie_name(app) + "="
        header = next((h for h in reversed(response.headers.getlist("Set-Cookie"))
                       if h.startswith(prefix)), None)
        if header is None:
            return
        value = header[len(prefix):].split(";", 1)[0]
        try:
            signed_at = bytes_to_int(base64_decode(value.rsplit(".", 2)[1]))
        except (IndexError, ValueError, BadData):
            return
        key = (value, app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if len(self._verified) >= _CACHE_AT_MOST:
            self._verified.clear()
        self._verified[key] = (items, signed_at)


class App(Flask):
    """Flask asks, for every hook and the view on every request, whether the function is a
    coroutine function (``inspect``, 25 calls and about 4 % of a minimal signed-in request's
    CPU). The answer never changes for a function, so it is asked once per function."""

    session_interface = CookieSessions()
    request_class = CookieRequest

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

    def create_url_adapter(self, request):
        adapter = super().create_url_adapter(request)
        if adapter is not None:
            adapter.build = _remembering_build(adapter)
        return adapter

    def url_for(self, endpoint: str, /, *, _anchor: str | None = None,
                _method: str | None = None, _scheme: str | None = None,
                _external: bool | None = None, **values) -> str:
        """Flask's ``url_for``, remembering each URL a request builds (a members page builds
        about 30, most of them the same on every request).

        Besides the adapter's binding (``_remembering_build``), a URL depends on what the URL
        default functions add; each of ours declares the attributes of ``g`` it reads
        (``url_default_reads``), and those values are part of the key. While any default
        function does not declare them, outside a request, for an endpoint relative to the
        blueprint and for values other than plain strings, numbers and UUIDs, it is Flask's
        ``url_for`` as it is; errors are never remembered."""
        request_ctx = _cv_request.get(None)
        reads = self._url_default_reads if self._got_first_request else None
        binding = getattr(request_ctx.url_adapter, "remembered_binding", None) \
            if request_ctx is not None else None
        if (binding is None or reads is None or endpoint[:1] == "."
                or not all(type(v) in _URL_VALUES for v in values.values())):
            return super().url_for(endpoint, _anchor=_anchor, _method=_method,
                                   _scheme=_scheme, _external=_external, **values)
        request_g = _cv_app.get().g
        defaults_read = tuple(getattr(request_g, name, None) for name in reads)
        key = (binding, endpoint, tuple(values.items()), _anchor, _method, _scheme, _external,
               defaults_read)
        url = _urls_for.get(key)
        if url is None:
            url = super().url_for(endpoint, _anchor=_anchor, _method=_method,
                                  _scheme=_scheme, _external=_external, **values)
            if all(type(v) in _URL_VALUES for v in defaults_read):
                if len(_urls_for) >= _CACHE_AT_MOST:
                    _urls_for.clear()
                _urls_for[key] = url
        return url

    @cached_property
    def _url_default_reads(self) -> tuple[str, ...] | None:
        """The ``g`` attributes the URL default functions read, or None when one does not
        say. Asked once the app serves (Flask refuses new default functions after that)."""
        reads: list[str] = []
        for functions in self.url_default_functions.values():
            for function in functions:
                declared = getattr(function, "url_default_reads", None)
                if declared is None:
                    return None
                reads.extend(name for name in declared if name not in reads)
        return tuple(reads)


def _remembering_build(adapter):
    """``adapter.build``, remembering each URL it built (a page builds about 30, most of them
    the same on every request: the navigation, the org's own links).

    A URL depends only on the endpoint, the values, the build options and what the adapter
    was bound to (host, script root, subdomain, scheme), so those are the key; the URL map
    is fixed once the app serves. Values other than plain strings, numbers and UUIDs go the
    usual way, and so does every error (nothing is remembered but a built URL)."""
    build = adapter.build
    bound = adapter.remembered_binding = (
        adapter.map, adapter.server_name, adapter.script_name, adapter.subdomain,
        adapter.url_scheme)

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
