"""OpenID Connect relying party for one connection: authorization code flow with PKCE (S256),
``state`` and ``nonce``; authlib's OAuth2Session does the protocol HTTP, joserfc verifies the
ID token. Every check is written out here so it can be read and tested:
issuer (discovery and token), audience (and azp), signature against the provider's JWKS
(RS256/ES256 only, so never ``alg: none``), expiry, issued-at, nonce.
All HTTP goes through fetch.guard (SSRF-safe, no redirects, time and size limits).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from dashboard.sso import fetch

ALLOWED_ALGS = ["RS256", "ES256"]
LEEWAY_SECONDS = 60
MAX_TOKEN_AGE_SECONDS = 600
MAX_DOCUMENT_BYTES = 512 * 1024
DEFAULT_SCOPES = "openid email profile"


class OidcError(Exception):
    """A refused login or an unusable provider; ``reason`` is safe to show and to audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ClientConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    redirect_uri: str


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Net:
    """How far outgoing requests may go (from config)."""

    allow_private: bool
    timeout: float = 5.0
    cache_seconds: float = 0.0  # reuse discovery documents and JWKS this long


class _DocumentCache:
    """Discovery documents and JWKS by URL, for ``cache_seconds``: an anonymous /sso/start
    must not make us fetch the customer's discovery document every time. Bounded in size;
    failures are never cached."""

    MAX_ENTRIES = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, bool], tuple[float, dict]] = {}

    def get(self, url: str, net: Net) -> dict | None:
        if net.cache_seconds <= 0:
            return None
        with self._lock:
            entry = self._entries.get((url, net.allow_private))
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, url: str, net: Net, document: dict) -> None:
        if net.cache_seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[(url, net.allow_private)] = (time.monotonic() + net.cache_seconds,
                                                       document)


_documents = _DocumentCache()


def _get_cached_json(url: str, net: Net, *, fresh: bool = False) -> dict:
    document = None if fresh else _documents.get(url, net)
    if document is None:
        document = _get_json(url, net)
        _documents.put(url, net, document)
    return document


def _get_json(url: str, net: Net) -> dict:
    try:
        body = fetch.fetch(url, allow_private=net.allow_private, max_bytes=MAX_DOCUMENT_BYTES,
                           timeout=net.timeout, accept="application/json")
        document = json.loads(body)
    except fetch.FetchError as exc:
        raise OidcError(str(exc)) from exc
    except ValueError as exc:
        raise OidcError("The provider did not answer with JSON.") from exc
    if not isinstance(document, dict):
        raise OidcError("The provider did not answer with a JSON object.")
    return document


def normalize_issuer(issuer: str, net: Net) -> str:
    try:
        return fetch.check_url(issuer, net.allow_private)
    except fetch.FetchError as exc:
        raise OidcError(f"Issuer URL: {exc}") from exc


def discover(issuer: str, net: Net) -> Provider:
    """OpenID Connect Discovery; the document must name exactly this issuer (Discovery 4.3)."""
    issuer = normalize_issuer(issuer, net)
    document = _get_cached_json(issuer.rstrip("/") + "/.well-known/openid-configuration", net)
    if document.get("issuer") != issuer:
        raise OidcError(
            "The discovery document names another issuer "
            f"({str(document.get('issuer'))[:200]!r}); enter exactly that issuer URL."
        )
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str):
            raise OidcError(f"The discovery document has no {name}.")
        try:
            endpoints[name] = fetch.check_url(value, net.allow_private)
        except fetch.FetchError as exc:
            raise OidcError(f"{name}: {exc}") from exc
    return Provider(issuer=issuer, **endpoints)


def _client(config: ClientConfig, net: Net) -> OAuth2Session:
    session = OAuth2Session(
        config.client_id, config.client_secret, scope=config.scopes,
        redirect_uri=config.redirect_uri, code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
    )
    return fetch.guard(session, net.allow_private)


@dataclass(frozen=True)
class Pending:
    state: str
    nonce: str
    code_verifier: str


def begin(config: ClientConfig, provider: Provider, net: Net,
          login_hint: str | None = None) -> tuple[str, Pending]:
    """(URL to send the browser to, values to keep server-side until the callback)."""
    pending = Pending(generate_token(40), generate_token(32), generate_token(64))
    extra = {"login_hint": login_hint} if login_hint else {}
    with _client(config, net) as client:
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=pending.state, nonce=pending.nonce,
            code_verifier=pending.code_verifier, **extra,
        )
    return url, pending


def finish(config: ClientConfig, provider: Provider, net: Net, params: dict,
           pending: Pending) -> dict:
    """Handle the redirect back (state already matched by the caller): exchange the code
    with the PKCE verifier and return the verified ID token claims."""
    if params.get("error"):
        raise OidcError(f"The provider refused: {str(params['error'])[:100]}")
    code = params.get("code")
    if not code:
        raise OidcError("The provider sent no authorization code.")
    try:
        with _client(config, net) as client:
            token = client.fetch_token(
                provider.token_endpoint, grant_type="authorization_code", code=code,
                code_verifier=pending.code_verifier, timeout=net.timeout,
            )
    except Exception as exc:  # authlib OAuthError, requests errors, FetchError
        raise OidcError("The provider refused the code exchange.") from exc
    if not token.get("id_token"):
        raise OidcError("The provider returned no ID token.")
    return verify_id_token(config, provider, net, token["id_token"], pending.nonce)


def verify_id_token(config: ClientConfig, provider: Provider, net: Net, id_token: str,
                    nonce: str) -> dict:
    keys = KeySet.import_key_set(_get_cached_json(provider.jwks_uri, net))
    try:
        try:
            token = jwt.decode(id_token, keys, algorithms=ALLOWED_ALGS)
        except InvalidKeyIdError:  # keys rotated since: fetch them again, once
            keys = KeySet.import_key_set(_get_cached_json(provider.jwks_uri, net, fresh=True))
            token = jwt.decode(id_token, keys, algorithms=ALLOWED_ALGS)
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except JoseError as exc:
        raise OidcError(f"The ID token was refused ({exc.error}).") from exc
    except ValueError as exc:  # malformed token
        raise OidcError("The ID token is malformed.") from exc
    claims = token.claims
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != config.client_id:
        raise OidcError("The ID token was refused (azp).")
    issued_at = claims["iat"]
    if not isinstance(issued_at, int | float) or issued_at < time.time() - MAX_TOKEN_AGE_SECONDS:
        raise OidcError("The ID token was refused (issued too long ago).")
    if not isinstance(claims["sub"], str) or not 1 <= len(claims["sub"]) <= 255:
        raise OidcError("The ID token was refused (sub).")
    return claims


def verified_email(claims: dict) -> str | None:
    """The email, only when the provider says it is verified (the boolean true, not "true")."""
    email = claims.get("email")
    if isinstance(email, str) and claims.get("email_verified") is True:
        return email
    return None
