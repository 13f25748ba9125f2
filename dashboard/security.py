"""CSRF on every state-changing request and security headers on every response."""

from __future__ import annotations

import hmac

from flask import current_app, g, session
from flask_wtf.csrf import CSRFProtect, generate_csrf, same_origin

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
        apply_exemptions = kwargs.get("apply_exemptions", args[0] if args else False)
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return None  # as Flask-WTF: nothing checked, nothing marked
        key, raw = self._token_key(config)
        known = _verified_tokens.get(key) if key is not None else None
        if known is not None and hmac.compare_digest(known, raw) \
                and self._referrer_ok(config, request):
            g.csrf_valid = True  # what Flask-WTF marks once the same checks passed
            return None
        result = super().protect(*args, **kwargs)  # raises (400) on a bad token
        if key is not None and g.get("csrf_valid"):
            if len(_verified_tokens) >= _CACHE_AT_MOST:
                _verified_tokens.clear()
            _verified_tokens[key] = raw
        return result

    def _token_key(self, config) -> tuple:
        """``(key, raw)``: the memo's key for this request's signed token, and the session's
        raw token; ``(None, None)`` where the memo does not apply (a time limit, no token)."""
        field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        raw = session.get(field)
        if config.get("WTF_CSRF_TIME_LIMIT", 3600) is not None or type(raw) is not str \
                or not secret:
            return None, None
        submitted = self._get_csrf_token()
        if not submitted or type(submitted) is not str:
            return None, None
        return (secret, field, submitted), raw

    @staticmethod
    def _referrer_ok(config, request) -> bool:
        """Flask-WTF's referrer rule for HTTPS (its own path answers a failure)."""
        if not (request.is_secure and config["WTF_CSRF_SSL_STRICT"]):
            return True
        return bool(request.referrer) and same_origin(
            request.referrer, f"https://{request.host}/")


csrf = BearerAwareCSRF()

_CACHE_AT_MOST = 2000
_signed_tokens: dict = {}  # (secret key, field name, the session's raw token) -> signed token
# (secret key, field name, a signed token Flask-WTF verified) -> the raw token it carries.
# Verifying a token (itsdangerous: a serializer built, an HMAC, a timestamp) was ~4 % of a
# POST's CPU (issue 20), and a session posts the same signed token on every form. With
# ``WTF_CSRF_TIME_LIMIT = None`` a signature that verified once under a key verifies for
# good, so a token seen before only needs its raw token compared with the session's (as
# Flask-WTF compares it) and the referrer rule; anything else goes Flask-WTF's whole way.
_verified_tokens: dict = {}


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
