"""Partner provisioning API (JSON, Bearer provider credential). HTTP only."""

from __future__ import annotations

import json
import uuid
from functools import wraps

from flask import Blueprint, current_app, g, request
from pydantic import ValidationError
from sqlalchemy import text

from dashboard import secretbox, tenancy
from dashboard.errors import json_error
from dashboard.metadata import rules as metadata_rules
from dashboard.partner import credentials, service
from dashboard.partner.schemas import EXTERNAL_ID, ProvisionRequest, UpdateRequest
from dashboard.permissions import PARTNER
from dashboard.security import csrf

bp = Blueprint("partner", __name__, url_prefix="/partner/v1")
csrf.exempt(bp)  # Bearer credentials only; no cookie ever authenticates these routes

RESPONSE_PURPOSE = "provision-response"
RESPONSE_REPLAY_SECONDS = 24 * 3600


def partner_api(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        session = tenancy.request_session()
        provider = credentials.authenticate(
            session, current_app.config["SECRET_KEY"], request.headers.get("Authorization")
        )
        if provider is None:
            return json_error(401, "unauthorized", "A valid provider credential is required.")
        g.provider = provider
        tenancy.bind_request(service.context_for(provider))
        try:
            return view(*args, **kwargs)
        except service.PartnerError as exc:
            return json_error(exc.status, exc.code, exc.message)

    wrapper.access_rule = PARTNER
    return wrapper


def _body(model):
    if not request.is_json:
        raise service.PartnerError(415, "unsupported_media_type", "Send a JSON body.")
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise service.PartnerError(400, "malformed_json", "The body is not a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise service.PartnerError(422, "invalid_request", problems[:1000]) from exc


@bp.route("/orgs/<external_id>/provision", methods=["POST"])
@partner_api
def provision(external_id: str):
    import re

    if not re.fullmatch(EXTERNAL_ID, external_id):
        raise service.PartnerError(400, "bad_external_id",
                                   "external_id: 1–100 letters, digits, '.', '_', ':' or '-'.")
    body = _body(ProvisionRequest)
    new_org_id = uuid.uuid4()
    session = tenancy.bind_request(service.context_for(g.provider, new_org_id))
    org, created = service.provision(session, g.provider, external_id, body, new_org_id)
    key = current_app.config["SECRET_KEY"]
    if created:
        response = {"org": org.as_json(), "created": True,
                    **_provision_extras(session, org, body)}
        session.execute(
            text("UPDATE provider_orgs SET response_ciphertext = :c"
                 " WHERE provider_id = :p AND external_id = :e"),
            {"c": secretbox.encrypt(key, RESPONSE_PURPOSE, json.dumps(response).encode()),
             "p": g.provider.id, "e": external_id},
        )
        return response, 201
    stored = session.scalar(
        text("SELECT response_ciphertext FROM provider_orgs"
             " WHERE provider_id = :p AND external_id = :e"),
        {"p": g.provider.id, "e": external_id},
    )
    replay = stored and secretbox.decrypt(key, RESPONSE_PURPOSE, stored, RESPONSE_REPLAY_SECONDS)
    if replay:
        response = json.loads(replay)
        response["org"] = org.as_json()
    else:
        response = {"org": org.as_json(), "initial_api_key": None,
                    "note": "The initial API key was returned when the org was created."}
    response["created"] = False
    return response, 200


def _provision_extras(session, org, body) -> dict:
    """The owner's invitation and the initial org API key, in the provisioning transaction."""
    from dashboard.apikeys import service as apikeys
    from dashboard.apikeys.web import hmac_key
    from dashboard.audit.service import Actor
    from dashboard.members import invitations, roles
    from dashboard.members.seats import seat_limit
    from dashboard.members.web import queue_invitation_mail
    from dashboard.permissions import ALL_PERMISSIONS, GRANTABLE_SCOPES

    # The provider acts with an owner's authority inside the org it is creating.
    editor = roles.Editor(user_id=None, role="owner", permissions=ALL_PERMISSIONS)
    actor = Actor(label=f"provider:{g.provider.name}", ip=request.remote_addr,
                  user_agent=request.headers.get("User-Agent", ""))
    try:
        result = invitations.invite(
            session, org_id=org.id, editor=editor, roles=roles.catalogue(session),
            emails=body.owner_email, role="owner", message=None,
            ttl_days=current_app.config["INVITATION_TTL_DAYS"],
            seat_limit=seat_limit(session, org.id), actor=actor,
        )
    except invitations.InvitationError as exc:
        raise service.PartnerError(422, "owner_invitation_refused", exc.message) from exc
    queue_invitation_mail(session, result.issued, org.name, g.provider.name)
    issued = result.issued[0]
    key = apikeys.create_key(
        session, org_id=org.id, name="Initial key (provisioning)",
        scopes=[s.value for s in GRANTABLE_SCOPES], expires_at=None, created_by=None,
        hmac_key=hmac_key(), actor=actor,
    )
    return {
        "owner_invitation": {"id": str(issued.id), "email": issued.email,
                             "expires_at": issued.expires_at.isoformat()},
        "initial_api_key": {"id": str(key.id), "name": key.name, "secret": key.plaintext},
    }


def _metadata_filter() -> tuple[str, str] | None:
    """``?metadata[crm_id]=42``: one exact key/value filter."""
    try:
        return metadata_rules.parse_filter(request.args.items(multi=True))
    except metadata_rules.MetadataError as exc:
        raise service.PartnerError(400, "bad_filter", exc.message) from None


@bp.route("/orgs")
@partner_api
def list_orgs():
    orgs = service.list_orgs(tenancy.request_session(), _metadata_filter())
    return {"data": [o.as_json() for o in orgs]}


@bp.route("/orgs/<uuid:org_id>")
@partner_api
def get_org(org_id):
    return {"org": service.get_org(tenancy.request_session(), org_id).as_json()}


@bp.route("/orgs/<uuid:org_id>", methods=["PATCH"])
@partner_api
def update_org(org_id):
    body = _body(UpdateRequest)
    org = service.update_org(tenancy.request_session(), g.provider, org_id, body)
    return {"org": org.as_json()}


@bp.route("/orgs/<uuid:org_id>/usage")
@partner_api
def org_usage(org_id):
    from dashboard.partner import usage

    org = service.get_org(tenancy.request_session(), org_id)
    start, end = usage.parse_range(request.args.get("starting_on"),
                                   request.args.get("ending_before"))
    wanted = _metadata_filter()  # ?metadata[key]=value: only the events tagged with it
    session = tenancy.bind_request(service.context_for(g.provider, org.id))
    metrics = usage.usage_between(session, start, end, org_id=org.id, metadata=wanted)
    return {"org_id": str(org.id), "status": org.status, "starting_on": start.isoformat(),
            "ending_before": end.isoformat(), "metrics": metrics}


@bp.route("/orgs/<uuid:org_id>/export")
@partner_api
def org_export(org_id):
    from dashboard.audit.service import Actor
    from dashboard.lifecycle.download import send_export

    org = service.get_org(tenancy.request_session(), org_id)
    session = tenancy.bind_request(service.context_for(g.provider, org.id))
    actor = Actor(label=f"provider:{g.provider.name}", ip=request.remote_addr,
                  user_agent=request.headers.get("User-Agent", ""))
    return send_export(session, org.id, org.slug, actor)


@bp.route("/orgs/<uuid:org_id>", methods=["DELETE"])
@partner_api
def delete_org(org_id):
    org = service.schedule_deletion(tenancy.request_session(), g.provider, org_id)
    return {"org": org.as_json(), "deletion_scheduled_for": org.delete_after.isoformat()}, 202
