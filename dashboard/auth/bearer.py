"""Who is calling the JSON API: an ``Authorization: Bearer <access token>`` header.

Only JWTs (three dot-separated parts) are handled here; any other bearer value is left for
other API credentials (org API keys) to claim. A JWT that fails verification answers 401 JSON
at once, with the reason in ``error.code``, never a page or a stack trace.
"""

from __future__ import annotations

from flask import g, request

from dashboard.auth.access_tokens import InvalidAccessToken, verify_access_token
from dashboard.errors import json_error


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def bearer_jwt() -> str | None:
    token = bearer_token()
    return token if token is not None and token.count(".") == 2 else None


def unauthorized(code: str, message: str):
    body, status = json_error(401, code, message)
    return body, status, {"WWW-Authenticate": f'Bearer error="invalid_token", error_code="{code}"'}


def load_bearer_principal():
    """Set ``g.principal``/``g.membership`` from a valid JWT; return a 401 response if bad."""
    from dashboard.auth.principal import load_identity

    token = bearer_jwt()
    if token is None:
        return None
    try:
        claims = verify_access_token(token)
    except InvalidAccessToken as exc:
        return unauthorized(exc.code, exc.message)
    principal = load_identity(
        str(claims.session_id), str(claims.user_id), str(claims.org_id), touch=False
    )
    if principal is None or g.get("membership") is None:
        # Member removed, org suspended or user deactivated since the token was issued.
        return unauthorized(
            "token_revoked", "This access token no longer grants access to its organization."
        )
    g.principal = principal
    g.access_claims = claims
    return None
