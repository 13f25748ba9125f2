"""A small OpenID Provider for tests, served by werkzeug on 127.0.0.1 in a thread.

Discovery, JWKS, /authorize (signs in ``op.user`` at once, PKCE S256 required) and /token
(client_secret_basic, single-use codes, RS256 ID tokens via joserfc). ``op.tamper`` makes the
next ID tokens wrong in one chosen way, so refusal tests start from real tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.wrappers import Request, Response

from tests.support.loopback import LoopbackServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"},
                               private=True)


class TestOP(LoopbackServer):
    __test__ = False

    def __init__(self) -> None:
        self.clients: dict[str, tuple[str, str]] = {}  # client_id -> (secret, redirect_uri)
        self.key = new_key("op-1")
        self.user: dict = {"sub": "user-123", "email": "alice@acme.test", "email_verified": True,
                           "name": "Alice Example"}
        self.codes: dict[str, dict] = {}
        self.tamper: dict = {}
        self.issued: list[str] = []  # every ID token handed out
        self.hits: list[str] = []  # every path requested, in order
        super().__init__(self.wsgi)
        self.issuer = self.base

    def register(self, client_id: str, secret: str, redirect_uri: str) -> None:
        self.clients[client_id] = (secret, redirect_uri)

    # ------------------------------------------------------------------------ HTTP
    def wsgi(self, environ, start_response):
        request = Request(environ)
        self.hits.append(request.path)
        route = {
            "/.well-known/openid-configuration": self.discovery,
            "/jwks": self.jwks,
            "/authorize": self.authorize,
            "/token": self.token,
        }.get(request.path)
        response = route(request) if route else Response("not found", 404)
        return response(environ, start_response)

    @staticmethod
    def _json(obj, status=200) -> Response:
        return Response(json.dumps(obj), status, content_type="application/json")

    def discovery(self, request) -> Response:
        return self._json({
            "issuer": self.tamper.get("discovery_issuer", self.issuer),
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        })

    def jwks(self, request) -> Response:
        return self._json(KeySet([self.key]).as_dict(private=False))

    def authorize(self, request) -> Response:
        args = request.args
        client = self.clients.get(args.get("client_id"))
        if not client or args.get("redirect_uri") != client[1]:
            return Response("bad client or redirect_uri", 400)
        if (args.get("response_type") != "code" or "openid" not in args.get("scope", "").split()
                or args.get("code_challenge_method") != "S256" or not args.get("code_challenge")):
            return self._redirect(client[1], error="invalid_request", state=args.get("state"))
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"client_id": args["client_id"], "redirect_uri": args["redirect_uri"],
                            "nonce": args.get("nonce"), "challenge": args["code_challenge"],
                            "expires": time.time() + 60}
        return self._redirect(client[1], code=code, state=args.get("state"))

    @staticmethod
    def _redirect(uri, **params) -> Response:
        query = urlencode({k: v for k, v in params.items() if v})
        return Response(status=302, headers={"Location": f"{uri}?{query}"})

    def token(self, request) -> Response:
        auth = request.authorization
        client = self.clients.get(auth.username if auth else None)
        if not client or not secrets.compare_digest(auth.password or "", client[0]):
            return self._json({"error": "invalid_client"}, 401)
        form = request.form
        grant = self.codes.pop(form.get("code", ""), None)  # single use
        if (form.get("grant_type") != "authorization_code" or not grant
                or grant["expires"] < time.time() or grant["client_id"] != auth.username
                or grant["redirect_uri"] != form.get("redirect_uri")):
            return self._json({"error": "invalid_grant"}, 400)
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
            return self._json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        id_token = self.tamper.get("id_token") or self.id_token(auth.username, grant["nonce"])
        self.issued.append(id_token)
        return self._json({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                           "expires_in": 300, "id_token": id_token})

    # ------------------------------------------------------------------------ ID token
    def id_token(self, client_id: str, nonce: str | None) -> str:
        tamper = self.tamper
        now = int(time.time()) - tamper.get("age", 0)
        claims = {**self.user, "iss": tamper.get("iss", self.issuer),
                  "aud": tamper.get("aud", client_id), "iat": now, "exp": now + 300,
                  "nonce": tamper.get("nonce", nonce)}
        claims.update(tamper.get("claims", {}))
        if tamper.get("alg") == "none":
            header = b64url(b'{"alg":"none","typ":"JWT"}')
            return f"{header}.{b64url(json.dumps(claims).encode())}."
        key = tamper.get("key", self.key)
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
