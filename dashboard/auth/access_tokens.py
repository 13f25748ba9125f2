"""Org-scoped access tokens (JWT, ES256) for Tenantdesk's own API and other services.

A token names the user (``sub``), the org (``org_id``, ``org_slug``), the role when it was
issued and the browser session it came from (``sid``). It lives a few minutes. Verifying it
checks, in this order: shape and header (only ES256 with a known ``kid``: ``alg: none`` and
HS256 signed with the public key are refused before any key is touched), the signature,
issuer, audience and expiry, and finally that the session ``sid`` is still live in the
database. A switch revokes the old session id, so every token minted before it stops working
on the very next call. The role claim is informational: the API re-reads the membership.

``verify_access_token(token)`` is what API code calls; ``issue``/``verify`` hold the rules and
take their dependencies explicitly (no Flask).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from sqlalchemy.orm import Session

from dashboard import people
from dashboard.auth.signing_keys import ALGORITHM, Keyring

MAX_TOKEN_BYTES = 4096
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("iss", "aud", "sub", "org_id", "org_slug", "role", "sid", "iat", "exp")


class InvalidAccessToken(Exception):
    """The token must not be honoured. ``code`` goes into the 401 JSON body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str = "The access token is not valid.") -> InvalidAccessToken:
    return InvalidAccessToken("invalid_token", message)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    org_id: uuid.UUID
    org_slug: str
    role: str
    session_id: uuid.UUID
    issued_at: int
    expires_at: int
    claims: dict = field(repr=False)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    kid: str


def issue(
    keyring: Keyring,
    *,
    issuer: str,
    audience: str,
    ttl: int,
    user_id: uuid.UUID,
    org_id: uuid.UUID,
    org_slug: str,
    role: str,
    session_id: uuid.UUID,
    now: int | None = None,
) -> IssuedToken:
    key = keyring.current()
    issued_at = int(now if now is not None else time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "org_id": str(org_id),
        "org_slug": org_slug,
        "role": role,
        "sid": str(session_id),
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": secrets.token_urlsafe(12),
    }
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}
    return IssuedToken(token=jwt.encode(header, claims, key.key), expires_in=ttl, kid=key.kid)


def _header(token: str) -> dict:
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid() from exc
    if not isinstance(header, dict):
        raise _invalid()
    return header


def verify(
    token: str,
    keyring: Keyring,
    db: Session,
    *,
    issuer: str,
    audience: str,
    idle: timedelta,
    now: int | None = None,
) -> AccessClaims:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise _invalid()
    header = _header(token)
    if header.get("alg") != ALGORITHM:  # alg none, HS256-with-the-public-key, ...
        raise _invalid("The access token is not signed with an accepted algorithm.")
    kid = header.get("kid")
    loaded = keyring.find(kid) if isinstance(kid, str) and len(kid) <= 64 else None
    if loaded is None:
        raise _invalid("The access token was signed with an unknown key.")
    try:
        decoded = jwt.decode(token, loaded.key, algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError) as exc:
        raise _invalid() from exc
    claims = decoded.claims
    _check_claims(claims, issuer=issuer, audience=audience, now=now)
    try:
        user_id = uuid.UUID(claims["sub"])
        org_id = uuid.UUID(claims["org_id"])
        session_id = uuid.UUID(claims["sid"])
    except (ValueError, TypeError, AttributeError) as exc:
        raise _invalid() from exc
    _check_session(db, session_id, user_id, org_id, idle)
    return AccessClaims(
        user_id=user_id,
        org_id=org_id,
        org_slug=str(claims["org_slug"]),
        role=str(claims["role"]),
        session_id=session_id,
        issued_at=claims["iat"],
        expires_at=claims["exp"],
        claims=dict(claims),
    )


def _check_claims(claims: dict, *, issuer: str, audience: str, now: int | None) -> None:
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise _invalid()
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise InvalidAccessToken("token_expired", "The access token has expired.") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise _invalid() from exc
    current = now if now is not None else int(time.time())
    if not isinstance(claims["iat"], int) or claims["iat"] > current + LEEWAY_SECONDS:
        raise _invalid()
    if not isinstance(claims["exp"], int) or claims["exp"] <= current - LEEWAY_SECONDS:
        raise InvalidAccessToken("token_expired", "The access token has expired.")


def _check_session(
    db: Session, session_id: uuid.UUID, user_id: uuid.UUID, org_id: uuid.UUID, idle: timedelta
) -> None:
    if not people.session_live(db, session_id, user_id, org_id, idle):
        raise InvalidAccessToken(
            "token_revoked", "The session this access token came from has ended."
        )


# ------------------------------------------------------------------------- Flask glue


def keyring_for(app) -> Keyring:
    return app.extensions["tenantdesk.keyring"]


def verify_access_token(token: str) -> AccessClaims:
    """Verify a bearer token for the running app; raises InvalidAccessToken.

    Uses the request's database session when there is one (the session check is a definer
    function, so the tenant context does not matter), else a short session of its own.
    """
    from flask import current_app, has_request_context

    from dashboard import tenancy

    config = current_app.config
    options = {
        "issuer": config["BASE_URL"],
        "audience": config["ACCESS_TOKEN_AUDIENCE"],
        "idle": timedelta(days=config["SESSION_IDLE_DAYS"]),
    }
    keyring = keyring_for(current_app)
    if has_request_context():
        return verify(token, keyring, tenancy.request_session(), **options)
    factory = current_app.extensions["tenantdesk.db"].sessionmaker
    with tenancy.scoped_session(factory, tenancy.NOBODY) as db:
        return verify(token, keyring, db, **options)


def issue_for_request(membership, principal) -> IssuedToken:
    from flask import current_app

    config = current_app.config
    return issue(
        keyring_for(current_app),
        issuer=config["BASE_URL"],
        audience=config["ACCESS_TOKEN_AUDIENCE"],
        ttl=config["ACCESS_TOKEN_TTL_SECONDS"],
        user_id=principal.user_id,
        org_id=membership.org_id,
        org_slug=membership.slug,
        role=membership.role,
        session_id=principal.session_id,
    )


def init_app(app) -> None:
    config = app.config
    # Old secrets that still open keys sealed before a rotation: TOKEN_KEY_SECRET's, or,
    # while it is unset (SECRET_KEY seals them), SECRET_KEY's.
    old = (config.get("TOKEN_KEY_SECRET_FALLBACKS") or [] if config.get("TOKEN_KEY_SECRET")
           else config.get("SECRET_KEY_FALLBACKS") or [])
    app.extensions["tenantdesk.keyring"] = Keyring(
        app.extensions["tenantdesk.db"].sessionmaker,
        config.get("TOKEN_KEY_SECRET") or config["SECRET_KEY"],
        publish_for=timedelta(seconds=config["SIGNING_KEY_PUBLISH_SECONDS"]),
        old_secrets=old,
    )
