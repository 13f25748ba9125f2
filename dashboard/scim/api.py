"""The SCIM 2.0 endpoints, ``/scim/v2/...`` (RFC 7644). HTTP only.

Each request is authenticated by the org's SCIM token alone (the cookie is never used: the
view binds the request to the token's own RLS context, so the gate decides what it reads),
rate-limited per token, served by scim2-server over ``storage.OrgStorage``, and logged for
the SCIM page. A refused request changes nothing (rolled back) but its log row stays.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import wraps

from flask import Blueprint, current_app, g, request
from limits import parse as parse_limit
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard import tenancy
from dashboard.apikeys import service as keys
from dashboard.apikeys.web import hmac_keys
from dashboard.auth.bearer import bearer_token
from dashboard.licenses import enforcement
from dashboard.licenses import service as licenses
from dashboard.licenses.features import Feature
from dashboard.members.web import queue_invitation_mail
from dashboard.permissions import SCIM_TOKEN, public
from dashboard.ratelimits import api_limiter
from dashboard.scim import console, patch, protocol, service, tokens
from dashboard.scim.storage import OrgStorage
from dashboard.security import csrf

PREFIX = "/scim/v2"
bp = Blueprint("scim_api", __name__, url_prefix=PREFIX)
csrf.exempt(bp)  # Bearer token only; no cookie ever authenticates these routes

_touches = keys.TouchThrottle(timedelta(minutes=1))

enforcement.point(Feature.SCIM, "scim-protocol",
                  "/scim/v2 calls with a SCIM token of an org without SCIM")


@bp.after_app_request
def _errors_in_scim_format(response):
    """Errors Flask answers itself under /scim/ (unknown path, method not allowed, 500) in
    the SCIM error format too (RFC 7644 §3.12)."""
    if not request.path.startswith("/scim/") or response.status_code < 400:
        return response
    if response.mimetype == "application/scim+json":
        return response
    body = response.get_json(silent=True) or {}
    detail = (body.get("error") or {}).get("message") or response.status
    scim = _send(protocol.error(response.status_code, str(detail)))
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response.headers:
            scim.headers[header] = response.headers[header]
    return scim


def _send(response: ScimResponse):
    body = b"" if response.body is None else current_app.json.dumps(response.body)
    return current_app.response_class(body, status=int(response.status),
                                      headers=response.headers)


def _refuse(status: int, detail: str, scim_type: str | None = None, **headers):
    response = protocol.error(status, detail, scim_type)
    response.headers.update(headers)
    return _send(response)


def _authenticate():
    """The token's caller; or a SCIM error response, with the caller once the org is known."""
    token = bearer_token()
    if token is None:
        return _refuse(401, "Send 'Authorization: Bearer <the organization's SCIM token>'.",
                       **{"WWW-Authenticate": 'Bearer realm="scim"'})
    session = tenancy.request_session()
    try:
        identity = keys.authenticate(session, token, hmac_keys(), parse=tokens.parse,
                                     lookup=tokens.LOOKUP_SQL)
    except keys.KeyRefused as exc:
        detail = {"api_key_revoked": "This SCIM token has been revoked.",
                  "api_key_expired": "This SCIM token has expired."}.get(
            exc.code, "This is not a valid SCIM token.")
        return _refuse(401, detail, **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
    session = tenancy.bind_request(
        tenancy.TenantContext(credential_id=identity.credential_id, org_id=identity.org_id)
    )
    org = keys.opened_org(session)
    if org is None:  # the gate said no: suspended org, or revoked a moment ago
        return _refuse(401, "This SCIM token's organization is not active.",
                       **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
    prefix = tokens.parse(token).prefix
    caller = service.Caller(
        org_id=org.id, credential_id=identity.credential_id, label=f"scim-token:{prefix}",
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent", ""),
    )
    # Refused from here on with the org known: the refusal shows in its request log too.
    # (Enforcement point "scim-protocol".)
    if not licenses.entitlements(session, org.id).has(Feature.SCIM):
        return _refuse(403, "This organization's plan does not include SCIM provisioning."), caller
    if not _within_rate(identity.credential_id):
        return _refuse(429, "Too many SCIM requests for this token; retry in a minute.",
                       **{"Retry-After": "60"}), caller
    if _touches.due(identity.credential_id):
        keys.touch(session, identity.credential_id, _touches.every)
        session.commit()
    return caller


def _within_rate(credential_id) -> bool:
    limit = parse_limit(current_app.config["SCIM_RATE_LIMIT"])
    try:
        return api_limiter().limiter.hit(limit, "scim-token", str(credential_id))
    except Exception:  # the counter store is down: SCIM stays up, as the API does
        current_app.logger.warning("SCIM rate-limit store unavailable", exc_info=True)
        return True


def scim_token(view):
    """Guard a SCIM endpoint with the org's token; commit or roll back, then log."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        started = time.monotonic()
        caller = _authenticate()
        if isinstance(caller, tuple):  # refused after the org was known: logged
            response, caller = caller
        elif not isinstance(caller, service.Caller):
            return caller  # refused before any org was known
        else:
            g.scim_caller = caller
            response = view(*args, **kwargs)
        session = tenancy.request_session()
        if response.status_code >= 400:
            session.rollback()
        outcome = None
        if response.status_code >= 400:
            body = response.get_json(silent=True) or {}
            outcome = " ".join(str(body.get(k)) for k in ("scimType", "detail") if body.get(k))
        console.log_request(
            session, org_id=caller.org_id, credential_id=caller.credential_id,
            method=request.method, path=request.full_path.rstrip("?"),
            status=response.status_code, outcome=outcome,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        session.commit()  # the change (if any) and its log row; mail leaves after this
        return response

    wrapper.access_rule = SCIM_TOKEN  # type: ignore[attr-defined]
    return wrapper


def _serve():
    caller: service.Caller = g.scim_caller
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _refuse(413, "The request body is too large.")
    if request.method in ("POST", "PUT", "PATCH") and patch.too_many_members(body):
        return _refuse(413, f"At most {patch.MAX_MEMBERS_PER_REQUEST} group members per "
                            "request; send larger groups in several PATCH requests.")
    session = tenancy.request_session()
    effects = service.Effects(ttl_days=current_app.config["INVITATION_TTL_DAYS"])
    storage = OrgStorage(session, caller, effects, lock=request.method != "GET")
    if request.path.startswith((f"{PREFIX}/Users", f"{PREFIX}/Groups")):
        service.link_accepted_invitations(session)
    try:
        response = protocol.serve(_scim_request(body), storage)
    except IntegrityError:  # a concurrent request took the same userName first
        return _refuse(409, "A concurrent request provisioned the same user.", "uniqueness")
    if int(response.status) < 400 and effects.invitations:
        org_name = keys.opened_org(session).name
        queue_invitation_mail(session, effects.invitations, org_name, org_name)
    return _send(response)


def _scim_request(body: bytes) -> ScimRequest:
    return ScimRequest(
        method=request.method,
        base_url=request.host_url.rstrip("/") + PREFIX,
        path=request.path.removeprefix(PREFIX) or "/",
        query=request.args.to_dict(),
        headers=list(request.headers.items()),
        body=body,
    )


@bp.route("/Users", methods=["GET", "POST"])
@scim_token
def users():
    return _serve()


@bp.route("/.search", methods=["POST"])
@scim_token
def search_all():
    """Searching Users and Groups at once answers 501 (storage.OrgStorage.search)."""
    return _serve()


@bp.route("/Users/.search", methods=["POST"])
@scim_token
def search_users():
    return _serve()


@bp.route("/Groups/.search", methods=["POST"])
@scim_token
def search_groups():
    return _serve()


@bp.route("/Users/<scim_user_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
@scim_token
def user(scim_user_id: str):
    return _serve()


@bp.route("/Groups", methods=["GET", "POST"])
@scim_token
def groups():
    return _serve()


@bp.route("/Groups/<scim_group_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
@scim_token
def group(scim_group_id: str):
    return _serve()


# Discovery (RFC 7644 §4): the same for every org, no tenant data. The service provider
# configuration needs no authentication (RFC 7643 §5); the others need the token.
@bp.route("/ServiceProviderConfig")
@public
def service_provider_config():
    return _send(protocol.serve_service_provider_config(_scim_request(b"")))


@bp.route("/ResourceTypes")
@scim_token
def resource_types():
    return _serve()


@bp.route("/ResourceTypes/<resource_type>")
@scim_token
def resource_type(resource_type: str):
    return _serve()


@bp.route("/Schemas")
@scim_token
def schemas():
    return _serve()


@bp.route("/Schemas/<schema_urn>")
@scim_token
def schema(schema_urn: str):
    return _serve()
