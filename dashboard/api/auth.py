"""Who is calling /api/: an org API key or a user's access token, from the Bearer header only.

The org always comes from the credential. Authentication runs as an app-level before_request
hook (before the rate limiter, which counts per credential and per org), and opens the
credential's own RLS context, so the database gate has the last word on every query.
``api_scope(...)`` guards each API view and records its rule for the route-table test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from flask import g, request

from dashboard import tenancy
from dashboard.api.bearer import API_PREFIX, bearer_token
from dashboard.api.errors import ApiError, unauthorized
from dashboard.apikeys import service as keys
from dashboard.apikeys import tokens
from dashboard.apikeys.web import hmac_keys
from dashboard.audit.service import Actor
from dashboard.licenses import enforcement
from dashboard.licenses import service as licenses
from dashboard.licenses.features import Feature
from dashboard.permissions import SCOPE_PERMISSION, ApiScope, Permission

TOUCH_EVERY = timedelta(minutes=1)
_touches = keys.TouchThrottle(TOUCH_EVERY)


@dataclass(frozen=True)
class ApiPrincipal:
    kind: str  # "api_key" | "user"
    org: keys.OpenedOrg
    label: str  # for the audit log: "api-key:<prefix>" or the user's email
    rate_per_minute: int
    api_included: bool  # the org's plan includes API access (checked by api_scope)
    scopes: frozenset[str] = frozenset()  # API keys
    permissions: frozenset[str] = frozenset()  # users (from their role)
    credential_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    role: str | None = None

    @property
    def org_id(self) -> uuid.UUID:
        return self.org.id

    @property
    def rate_key(self) -> str:
        return f"key:{self.credential_id}" if self.credential_id else f"user:{self.user_id}"

    def allows(self, scope: ApiScope, permission: Permission | None = None) -> bool:
        if self.kind == "api_key":
            return scope.value in self.scopes
        return (permission or SCOPE_PERMISSION[scope]).value in self.permissions

    def actor(self) -> Actor:
        return Actor(
            label=self.label,
            user_id=self.user_id,
            ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent", ""),
        )


def current_principal() -> ApiPrincipal:
    principal = g.get("api_principal")
    if principal is None:
        raise unauthorized(
            "missing_credentials",
            "Send 'Authorization: Bearer <API key or access token>'.",
        )
    return principal


def _browser_session_allows(permission: Permission) -> None:
    """For routes that also serve the signed-in browser (CSRF applies to those calls): the
    session's active org, with ``permission``; JSON errors like ``requires`` gives pages."""
    membership = g.get("membership")
    if membership is None:
        raise ApiError(404, "not_found", "Not found.")
    if permission.value not in membership.permissions:
        raise ApiError(403, "forbidden", f"Your role lacks '{permission.value}' for this call.")


def api_scope(
    scope: ApiScope | str,
    *,
    permission: Permission | None = None,
    browser_session: bool = False,
) -> Callable:
    """Guard an API view: a Bearer credential of some org holding ``scope`` (an API key), or
    the browser permission behind it (a user's access token; ``permission`` narrows it).

    ``browser_session=True`` also lets the signed-in browser call the route with its cookie
    (and CSRF header) when no Bearer credential is sent.
    """
    scope = ApiScope(scope)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if browser_session and g.get("api_principal") is None and g.get("principal"):
                _browser_session_allows(permission or SCOPE_PERMISSION[scope])
                return view(*args, **kwargs)
            principal = current_principal()
            if not principal.api_included:
                raise ApiError(
                    403, "feature_not_included",
                    "This organization's plan does not include API access. An owner can "
                    "upgrade.",
                )
            if not principal.allows(scope, permission):
                needed = scope.value if principal.kind == "api_key" else (
                    permission or SCOPE_PERMISSION[scope]
                ).value
                raise ApiError(
                    403, "insufficient_scope", f"This credential lacks '{needed}' for this call."
                )
            return view(*args, **kwargs)

        wrapper.access_rule = scope.value  # type: ignore[attr-defined]
        wrapper.api_scope = scope  # type: ignore[attr-defined]
        return wrapper

    return decorator


# ------------------------------------------------------------------------- authentication


enforcement.point(Feature.API_ACCESS, "api-credentials",
                  "/api/v1 calls with an org API key or a user's access token (api_scope)")


def _plan_terms(session) -> tuple[bool, int]:
    """Whether the org's plan includes the API, and its rate limit per minute."""
    entitlements = licenses.entitlements(session)  # once per transaction, never cached longer
    return entitlements.has(Feature.API_ACCESS), entitlements.rate_limit_per_minute


def _key_principal(token: str) -> ApiPrincipal:
    session = tenancy.request_session()
    try:
        identity = keys.authenticate(session, token, hmac_keys())
    except keys.KeyRefused as exc:
        raise unauthorized(exc.code, exc.message) from None
    context = tenancy.TenantContext(credential_id=identity.credential_id, org_id=identity.org_id)
    session = tenancy.bind_request(context)
    org = keys.opened_org(session)
    if org is None:  # the gate said no: suspended org, or revoked since the look-up
        raise unauthorized(*keys.GATE_CLOSED)
    if _touches.due(identity.credential_id):
        keys.touch(session, identity.credential_id, TOUCH_EVERY)
        session.commit()  # kept even if this request ends in a 4xx
    included, rate = _plan_terms(session)
    return ApiPrincipal(
        kind="api_key",
        org=org,
        label=f"api-key:{tokens.parse(token).prefix}",
        rate_per_minute=rate,
        api_included=included,
        scopes=identity.scopes,
        credential_id=identity.credential_id,
    )


def _user_principal() -> ApiPrincipal:
    """A user's access token, already verified by dashboard/auth/bearer.py, which loaded the
    membership (role read now) and bound the request to that user and org."""
    principal, membership = g.principal, g.membership
    included, rate = _plan_terms(tenancy.request_session())
    return ApiPrincipal(
        kind="user",
        org=keys.OpenedOrg(membership.org_id, membership.slug, membership.name, membership.plan),
        label=principal.email,
        rate_per_minute=rate,
        api_included=included,
        permissions=frozenset(membership.permissions),
        user_id=principal.user_id,
        role=membership.role,
    )


def authenticate_request() -> None:
    """before_request: resolve a Bearer credential on /api/ into ``g.api_principal``."""
    g.api_principal = None
    if not request.path.startswith(API_PREFIX):
        return
    token = bearer_token()
    if token is None:
        return
    if g.get("access_claims") is not None:  # a JWT, verified by the principal loader
        g.api_principal = _user_principal()
    elif len(token) > 4096:
        raise unauthorized("invalid_token", "The Bearer credential is too long.")
    elif tokens.looks_like_key(token):
        g.api_principal = _key_principal(token)
    else:
        raise unauthorized(
            "invalid_token",
            "Unknown Bearer credential: send an org API key (td_live_…) or an access token.",
        )


def init_app(app) -> None:
    # Registered before the rate limiter's own hook, which counts per credential.
    app.before_request(authenticate_request)
