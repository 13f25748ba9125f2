"""Webhook endpoints through the API: the same rules as the page (dashboard/events/).

The signing secret is in the answer to the create and rotate calls only. Creating needs the
plan's `webhooks` feature; URLs on private, loopback or link-local addresses are refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import current_app
from pydantic import Field

from dashboard import tenancy
from dashboard.api.auth import current_principal
from dashboard.api.errors import ApiError
from dashboard.api.registry import operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Body, Output
from dashboard.events import endpoints, log
from dashboard.events.catalogue import CATALOGUE
from dashboard.licenses import enforcement
from dashboard.licenses import service as licenses
from dashboard.licenses.features import Feature
from dashboard.permissions import ApiScope

TAG = "Webhooks"


class EndpointIn(Body):
    url: str = Field(max_length=2048, description="HTTPS URL that receives the events.")
    description: str = Field("", max_length=200)
    event_types: list[str] = Field(default_factory=list, max_length=100,
                                   description="Event types to send; empty: all of them.")


class EndpointPatch(Body):
    url: str | None = Field(None, max_length=2048)
    description: str | None = Field(None, max_length=200)
    event_types: list[str] | None = Field(None, max_length=100)
    enabled: bool | None = None


class EndpointOut(Output):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="The signing secret (`whsec_...`), shown only now.")


class EndpointList(Output):
    data: list[EndpointOut]


class SecretOut(Output):
    secret: str = Field(description="The new signing secret, shown only now.")
    previous_valid_until: datetime = Field(description="Until then the old secret signs too.")


class DeliveryOut(Output):
    id: uuid.UUID
    event_type: str
    message_id: str = Field(description="The event's `webhook-id`.")
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    last_snippet: str | None


class DeliveryList(Output):
    data: list[DeliveryOut]


class EventTypeOut(Output):
    type: str
    version: int
    description: str


class EventTypeList(Output):
    data: list[EventTypeOut]


def _endpoint(endpoint_id: uuid.UUID):
    destination = endpoints.get(tenancy.request_session(), endpoint_id, streams=False)
    if destination is None:
        raise ApiError(404, "not_found", "There is no webhook endpoint with that id.")
    return destination


def _invalid(exc: endpoints.DestinationError) -> ApiError:
    return ApiError(422, "validation_error", f"{exc.field}: {exc.message}")


def _allow_private() -> bool:
    return bool(current_app.config.get("ALLOW_PRIVATE_EVENT_URLS"))


@operation(bp, "GET", "/webhooks/event-types", summary="The event catalogue", tag=TAG,
           scope=ApiScope.WEBHOOKS_READ, response=EventTypeList)
def list_event_types():
    return EventTypeList(data=[EventTypeOut(type=t.value, version=s.version,
                                            description=s.description)
                               for t, s in CATALOGUE.items()])


@operation(bp, "GET", "/webhooks", summary="List webhook endpoints", tag=TAG,
           scope=ApiScope.WEBHOOKS_READ, response=EndpointList)
def list_webhooks():
    rows = endpoints.list_destinations(tenancy.request_session(), streams=False)
    return EndpointList(data=[EndpointOut.model_validate(r) for r in rows])


API_WEBHOOKS = enforcement.point(Feature.WEBHOOKS, "api-webhook-create",
                                 "POST /api/v1/webhooks creates no endpoint without webhooks")


@operation(bp, "POST", "/webhooks", summary="Create a webhook endpoint", tag=TAG,
           scope=ApiScope.WEBHOOKS_WRITE, body=EndpointIn, response=EndpointCreated,
           status=201, errors=(422,))
def create_webhook(body: EndpointIn):
    """The answer holds the signing secret; it is never shown again."""
    session = tenancy.request_session()
    principal = current_principal()
    if not licenses.has_feature(session, Feature.WEBHOOKS):
        raise ApiError(403, "feature_not_included", "The organization's plan does not include"
                       " webhooks.")
    try:
        created = endpoints.create(
            session, org_id=principal.org_id, kind=endpoints.WEBHOOK, url=body.url,
            description=body.description, event_types=body.event_types,
            created_by=principal.user_id, actor=principal.actor(),
            secret_key=current_app.config["SECRET_KEY"], allow_private=_allow_private())
    except endpoints.DestinationError as exc:
        raise _invalid(exc) from None
    out = EndpointOut.model_validate(created.destination).model_dump()
    return EndpointCreated(**out, secret=created.secret)


@operation(bp, "GET", "/webhooks/<uuid:endpoint_id>", summary="Read a webhook endpoint",
           tag=TAG, scope=ApiScope.WEBHOOKS_READ, response=EndpointOut)
def get_webhook(endpoint_id: uuid.UUID):
    return EndpointOut.model_validate(_endpoint(endpoint_id))


@operation(bp, "PATCH", "/webhooks/<uuid:endpoint_id>", summary="Change a webhook endpoint",
           tag=TAG, scope=ApiScope.WEBHOOKS_WRITE, body=EndpointPatch, response=EndpointOut,
           errors=(422,))
def update_webhook(endpoint_id: uuid.UUID, body: EndpointPatch):
    """Fields left out keep their value; `enabled: true` also clears a failure streak."""
    session = tenancy.request_session()
    destination = _endpoint(endpoint_id)
    actor = current_principal().actor()
    try:
        if body.url is not None or body.description is not None or body.event_types is not None:
            endpoints.update(
                session, destination, url=body.url if body.url is not None else destination.url,
                description=(body.description if body.description is not None
                             else destination.description),
                event_types=(body.event_types if body.event_types is not None
                             else list(destination.event_types or [])),
                actor=actor, allow_private=_allow_private())
    except endpoints.DestinationError as exc:
        raise _invalid(exc) from None
    if body.enabled is not None:
        endpoints.set_enabled(session, destination, body.enabled, actor=actor)
    return EndpointOut.model_validate(destination)


@operation(bp, "DELETE", "/webhooks/<uuid:endpoint_id>", summary="Delete a webhook endpoint",
           tag=TAG, scope=ApiScope.WEBHOOKS_WRITE, status=204)
def delete_webhook(endpoint_id: uuid.UUID):
    endpoints.delete(tenancy.request_session(), _endpoint(endpoint_id),
                     actor=current_principal().actor())


@operation(bp, "POST", "/webhooks/<uuid:endpoint_id>/rotate-secret",
           summary="Rotate the signing secret", tag=TAG, scope=ApiScope.WEBHOOKS_WRITE,
           response=SecretOut)
def rotate_webhook_secret(endpoint_id: uuid.UUID):
    """The previous secret keeps signing (a second signature) for 24 hours."""
    destination = _endpoint(endpoint_id)
    secret = endpoints.rotate_secret(tenancy.request_session(), destination,
                                     actor=current_principal().actor(),
                                     secret_key=current_app.config["SECRET_KEY"])
    return SecretOut(secret=secret, previous_valid_until=destination.previous_secret_until)


@operation(bp, "GET", "/webhooks/<uuid:endpoint_id>/deliveries", summary="Recent deliveries",
           tag=TAG, scope=ApiScope.WEBHOOKS_READ, response=DeliveryList)
def list_webhook_deliveries(endpoint_id: uuid.UUID):
    """The 50 newest deliveries with their last attempt (status, latency, answer snippet)."""
    destination = _endpoint(endpoint_id)
    rows = log.recent(tenancy.request_session(), destination.id)
    return DeliveryList(data=[DeliveryOut.model_validate(r) for r in rows])


@operation(bp, "POST", "/webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/redeliver",
           summary="Send a delivery again", tag=TAG, scope=ApiScope.WEBHOOKS_WRITE,
           response=DeliveryOut, status=202)
def redeliver_webhook(endpoint_id: uuid.UUID, delivery_id: uuid.UUID):
    session = tenancy.request_session()
    destination = _endpoint(endpoint_id)
    if log.redeliver(session, destination, delivery_id,
                     actor=current_principal().actor()) is None:
        raise ApiError(404, "not_found", "There is no such delivery for this endpoint.")
    (row,) = log.recent(session, destination.id, limit=1, delivery_id=delivery_id)
    return DeliveryOut.model_validate(row)
