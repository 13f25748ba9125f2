"""CSRF on every state-changing request and security headers on every response."""

from __future__ import annotations

from flask_wtf.csrf import CSRFProtect

from dashboard.api.bearer import csrf_exempt_api_request


class BearerAwareCSRF(CSRFProtect):
    """CSRF on every state-changing request, except /api/ calls no cookie can authenticate
    (see dashboard/api/bearer.py)."""

    def protect(self, *args, **kwargs):
        from flask import current_app

        if csrf_exempt_api_request(current_app.config["SESSION_COOKIE_NAME"]):
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


def init_app(app) -> None:
    csrf.init_app(app)

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if response.mimetype == "text/html":
            headers.setdefault("Cache-Control", "no-store")
        return response
