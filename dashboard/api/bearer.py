"""Is this request authenticated by a Bearer credential? (No database, no imports of the app.)

Such a request to /api/ is authenticated by its Authorization header only: the session cookie
is not read (principal.py skips it), so there is no ambient authority for a cross-site page to
ride and CSRF tokens do not apply (security.py skips them). A browser cannot attach an
Authorization header to a cross-site request without a CORS preflight, which Tenantdesk never
grants.
"""

from __future__ import annotations

from flask import request

API_PREFIX = "/api/"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def is_bearer_api_request() -> bool:
    return request.path.startswith(API_PREFIX) and bearer_token() is not None


def csrf_exempt_api_request(session_cookie_name: str) -> bool:
    """An /api/ call that no cookie can authenticate: a Bearer credential is sent (then the
    cookie is not read), or no session cookie is sent at all (then there is nobody to
    impersonate, and the call is refused as unauthenticated, 401, not as a CSRF failure)."""
    if not request.path.startswith(API_PREFIX):
        return False
    return bearer_token() is not None or session_cookie_name not in request.cookies
