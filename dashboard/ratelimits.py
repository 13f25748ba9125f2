"""Rate limits (Flask-Limiter): the API by plan, sign-in and invitation acceptance by client.

Two limiters share one store (Redis when REDIS_URL is set, so every worker and server counts
together; in-memory otherwise):

- ``api``: every authenticated /api/ call counts against its org and against its credential
  (key functions read the credential resolved by dashboard/api/auth.py, never a header such as
  X-Forwarded-For, so a client cannot reset its counter). If the store is down it fails open
  to per-process memory counters: the API stays up, a little less strict.
- ``strict``: POSTs to sign-in and invitation acceptance, per client address. If the store is
  down these fail closed (503): guessing passwords must not get cheaper when Redis is down.
  The anonymous SSO endpoints (start, SAML ACS, OIDC callback, pick-up) count there too, per
  client address and per connection, on every method: each one makes us write a row or call
  the customer's IdP.

Over a limit: 429 with Retry-After and RateLimit-Limit / -Remaining / -Reset (seconds).
"""

from __future__ import annotations

import math
import time

from flask import current_app, g, render_template, request
from flask.globals import request_ctx
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits.errors import StorageError

from dashboard.errors import json_error, wants_json

# endpoint -> config key of its per-client limit. Endpoints that do not exist are ignored.
FAIL_CLOSED_ENDPOINTS = {
    "auth.login": "LOGIN_RATE_LIMIT",
    "invitations.accept": "INVITE_ACCEPT_RATE_LIMIT",
    "accounts.forgot_password": "PASSWORD_RESET_RATE_LIMIT",
    "accounts.signup": "SIGNUP_RATE_LIMIT",
    "accounts.second_factor": "MFA_RATE_LIMIT",
    "accounts.passkey_login_finish": "MFA_RATE_LIMIT",
}

# Anonymous SSO endpoints: limited per client address and per connection.
SSO_ENDPOINTS = frozenset({
    "sso_login.start", "sso_login.acs", "sso_login.oidc_callback", "sso_login.complete",
})

_API = "tenantdesk.api_limiter"


def _principal():
    return g.get("api_principal")


def _plan_limit() -> str:
    principal = _principal()
    return f"{principal.rate_per_minute}/minute" if principal else ""


def _org_key() -> str:
    principal = _principal()
    return f"org:{principal.org_id}" if principal else ""


def _credential_key() -> str:
    principal = _principal()
    return principal.rate_key if principal else ""


def _not_api() -> bool:
    return _principal() is None


def _fail_closed_limit() -> str:
    name = FAIL_CLOSED_ENDPOINTS.get(request.endpoint or "")
    return current_app.config.get(name, "") if name else ""


def _not_fail_closed() -> bool:
    return request.method != "POST" or request.endpoint not in FAIL_CLOSED_ENDPOINTS


def _not_sso() -> bool:
    return request.endpoint not in SSO_ENDPOINTS


def _sso_ip_limit() -> str:
    return current_app.config["SSO_RATE_LIMIT_PER_IP"]


def _sso_connection_limit() -> str:
    return current_app.config["SSO_RATE_LIMIT_PER_CONNECTION"]


def _sso_connection_key() -> str:
    # Routes without a connection in the URL (the pick-up) share one bucket.
    return f"sso-connection:{(request.view_args or {}).get('connection_id', 'pickup')}"


def _storage(app) -> tuple[str, dict]:
    uri = app.config.get("REDIS_URL") or "memory://"
    options: dict = {}
    if uri.startswith(("redis", "rediss", "valkey")):
        options = {"socket_connect_timeout": 1, "socket_timeout": 1}
    return uri, options


class _Limiter(Limiter):
    """Flask-Limiter that returns at once for a request its request filters exempt. Stock, it
    goes on to evaluate an empty list of limits (and meta limits), about 5 % of the floor
    page's CPU (issue 20). The same outcome here: no limiter has meta limits or per-route
    limits, only application limits, and those the filters exempt."""

    def _check_request_limit(self, callable_name=None, in_middleware=True) -> None:
        if any(exempt() for exempt in self._request_filters):
            return None
        return super()._check_request_limit(callable_name, in_middleware)

    def init_app(self, app) -> None:
        # Stock, Flask-Limiter registers its three hooks for a limiter it has not seen yet.
        # Ours go in their place, in the same order: its after/teardown hooks run only when
        # this request used the limiter (~7 proxy reads and a context each otherwise).
        app.extensions.setdefault("limiter", set()).add(self)
        super().init_app(app)
        app.before_request(self._check_request_limit)
        app.after_request(self._after_request)
        app.teardown_request(self._teardown_request)

    def _used(self) -> bool:
        # Flask-Limiter keeps each limiter's per-request state in this dict on the request
        # context, created on first use; no entry: nothing to deduct, no header, nothing to reset.
        used = getattr(request_ctx._get_current_object(), "_limiter_request_context", None)
        return used is not None and self in used

    def _after_request(self, response):
        if self._used():
            return self._Limiter__inject_headers(response)
        return response

    def _teardown_request(self, exc=None) -> None:
        if self._used():
            self._Limiter__release_context(exc)


def api_limiter(app=None) -> Limiter:
    return (app or current_app).extensions[_API]


def init_app(app) -> None:
    uri, options = _storage(app)
    prefix = app.config.get("RATELIMIT_KEY_PREFIX") or "tenantdesk"
    api = _Limiter(
        key_func=_credential_key,
        application_limits=[
            # All of an org's credentials together get the plan's budget ...
            ApplicationLimit(
                limit_provider=_plan_limit, key_function=_org_key, scope="api-org",
                exempt_when=_not_api,
            ),
            # ... and so does each credential (the bucket named in the 429 when it is the one).
            ApplicationLimit(
                limit_provider=_plan_limit, key_function=_credential_key, scope="api-credential",
                exempt_when=_not_api,
            ),
        ],
        storage_uri=uri,
        storage_options=dict(options),
        strategy="fixed-window",
        headers_enabled=False,  # written below, in the IETF RateLimit-* form
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix=f"{prefix}-api",
    )
    strict = _Limiter(
        key_func=get_remote_address,
        application_limits=[
            ApplicationLimit(
                limit_provider=_fail_closed_limit,
                key_function=get_remote_address,
                scope=lambda endpoint: f"fail-closed:{endpoint}",
                exempt_when=_not_fail_closed,
            ),
            ApplicationLimit(
                limit_provider=_sso_ip_limit, key_function=get_remote_address,
                scope="sso-ip", exempt_when=_not_sso,
            ),
            ApplicationLimit(
                limit_provider=_sso_connection_limit, key_function=_sso_connection_key,
                scope="sso-connection", exempt_when=_not_sso,
            ),
        ],
        storage_uri=uri,
        storage_options={**options, "wrap_exceptions": True},
        strategy="fixed-window",
        headers_enabled=False,
        swallow_errors=False,
        in_memory_fallback_enabled=False,
        key_prefix=f"{prefix}-strict",
    )
    # Whole-request exemptions, equal to "every application limit of this limiter is exempt"
    # (the same exempt_when functions): Flask-Limiter then skips resolving and evaluating its
    # limits, ~15 % of a minimal signed-in page's CPU before (issue 20).
    api.request_filter(_not_api)
    strict.request_filter(lambda: _not_fail_closed() and _not_sso())
    api.init_app(app)
    strict.init_app(app)
    app.extensions[_API] = api

    @app.after_request
    def _rate_headers(response):
        if request.path.startswith("/api/") and _principal() is not None:
            _write_headers(api, response)
        return response

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded):
        if wants_json():
            body, status = json_error(
                429, "rate_limited", f"Rate limit exceeded ({exc.description}). Retry later."
            )
            response = current_app.make_response((body, status))
        else:
            response = current_app.make_response((
                render_template(
                    "errors/error.html", status=429,
                    message="Too many attempts. Wait a minute and try again.",
                ),
                429,
            ))
        if "Retry-After" not in response.headers:
            response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(StorageError)
    def _store_down(exc: StorageError):
        current_app.logger.error("rate-limit store unavailable; failing closed: %s", exc)
        message = "This is temporarily unavailable. Try again in a minute."
        if wants_json():
            response = current_app.make_response(json_error(503, "unavailable", message))
        else:
            response = current_app.make_response(
                (render_template("errors/error.html", status=503, message=message), 503)
            )
        response.headers["Retry-After"] = "60"
        return response


def _write_headers(limiter: Limiter, response) -> None:
    try:
        windows = [
            (lim.limit.amount, lim.window.remaining, lim.window.reset_time)
            for lim in limiter.current_limits
        ]
    except Exception:  # store hiccup: headers are a courtesy, never an error
        current_app.logger.warning("could not read rate-limit windows", exc_info=True)
        return
    if not windows:
        return
    amount, remaining, reset_at = min(windows, key=lambda w: (w[1], -w[2]))
    reset_in = max(0, math.ceil(reset_at - time.time()))
    response.headers["RateLimit-Limit"] = str(amount)
    response.headers["RateLimit-Remaining"] = str(max(0, remaining))
    response.headers["RateLimit-Reset"] = str(reset_in)
    response.headers["RateLimit-Policy"] = f"{amount};w=60"
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, reset_in))
