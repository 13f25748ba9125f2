"""CSRF on every state-changing request and security headers on every response."""

from __future__ import annotations

from flask_wtf.csrf import CSRFProtect

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

    @app.after_request
    def _headers(response):
        # One pass over the response's headers, not one search per header (issue 20: about
        # 2 % of a minimal signed-in request's CPU went to seven ``setdefault`` calls).
        # The pairs go straight onto Werkzeug's header list: they are constants checked above,
        # and ``extend`` would validate each one again (a generator and a regex per header).
        pairs = response.headers._list
        pairs.extend(security_headers(
            {k.lower() for k, _ in pairs}, bool(app.config.get("SESSION_COOKIE_SECURE")),
            response.mimetype == "text/html"))
        return response
