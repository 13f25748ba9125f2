"""CSRF on every state-changing request and security headers on every response."""

from __future__ import annotations

from flask import current_app, g, session
from flask_wtf.csrf import CSRFProtect, generate_csrf

from dashboard.api.bearer import csrf_exempt_api_request


class BearerAwareCSRF(CSRFProtect):
    """CSRF on every state-changing request, except /api/ calls no cookie can authenticate
    (see dashboard/api/bearer.py)."""

    def protect(self, *args, **kwargs):
        from flask import current_app, request

        config = current_app.config
        # A method CSRF never checks (GET, HEAD, OPTIONS) ends here: stock, Flask-WTF looks up
        # the view's exemptions first and then returns at the same method test.
        if request.method not in config["WTF_CSRF_METHODS"]:
            return None
        if csrf_exempt_api_request(config["SESSION_COOKIE_NAME"]):
            return None
        return super().protect(*args, **kwargs)


csrf = BearerAwareCSRF()

_CACHE_AT_MOST = 2000
_signed_tokens: dict = {}  # (secret key, field name, the session's raw token) -> signed token


def csrf_token() -> str:
    """Flask-WTF's ``generate_csrf``, signing each session's token once per worker.

    Signing (itsdangerous, an HMAC and a timestamp) was about 3 % of a page's CPU (issue 20)
    and every page signs the same raw token again. With ``WTF_CSRF_TIME_LIMIT = None`` a
    signed token never expires, so any signature of the session's raw token is as good as a
    fresh one; verification is Flask-WTF's own, unchanged (signature, then the raw token
    against the session's). With a time limit set, every render signs afresh as before.
    """
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    raw = session.get(field)
    if (
        field in g
        or config.get("WTF_CSRF_TIME_LIMIT", 3600) is not None
        or type(raw) is not str
        or not secret
    ):
        return generate_csrf()
    key = (secret, field, raw)
    token = _signed_tokens.get(key)
    if token is None:
        token = generate_csrf()
        if session.get(field) == raw:  # still the token it signed
            if len(_signed_tokens) >= _CACHE_AT_MOST:
                _signed_tokens.clear()
            _signed_tokens[key] = token
        return token
    setattr(g, field, token)  # what generate_csrf leaves for the rest of the request
    return token


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


_ALWAYS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
_NO_STORE = ("Cache-Control", "no-store")
# Constants: checked once here for what Werkzeug checks on every add (no line breaks).
assert not any(c in k + v for k, v in (*_ALWAYS, _HSTS, _NO_STORE) for c in "\r\n")


def security_headers(present: set[str], secure: bool, html: bool) -> list[tuple[str, str]]:
    """The headers to add to a response that already has ``present`` (lower-cased names):
    each one the view did not set itself."""
    wanted = [*_ALWAYS, *((_HSTS,) if secure else ()), *((_NO_STORE,) if html else ())]
    return [(k, v) for k, v in wanted if k.lower() not in present]


def init_app(app) -> None:
    csrf.init_app(app)
    app.jinja_env.globals["csrf_token"] = csrf_token  # in place of generate_csrf

    @app.after_request
    def _headers(response):
        # One pass over the response's headers, not one search per header (issue 20: about
        # 2 % of a minimal signed-in request's CPU went to seven ``setdefault`` calls).
        # The pairs go straight onto Werkzeug's header list: they are constants checked above,
        # and ``extend`` would validate each one again (a generator and a regex per header).
        pairs = response.headers._list
        pairs.extend(
            security_headers(
                {k.lower() for k, _ in pairs},
                bool(app.config.get("SESSION_COOKIE_SECURE")),
                response.mimetype == "text/html",
            )
        )
        return response
