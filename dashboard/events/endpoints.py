"""Destinations of an org's events: webhook endpoints and audit-log streams. No Flask here.

Everything runs in the caller's RLS-scoped session (the org comes from the gate). Secrets are
sealed with ``secretbox`` (they must be recovered to sign), shown to the user once.
A webhook secret can be rotated with overlap: for ``ROTATION_OVERLAP`` the worker signs with
both the new and the previous secret (two signatures in ``webhook-signature``), so a receiver
can switch at its own pace.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard import secretbox
from dashboard.audit.service import Actor, record_audit
from dashboard.events.catalogue import ALL_TYPES, MAX_FILTER
from dashboard.models import EventDestination
from dashboard.sso.fetch import FetchError, address_allowed, check_url

WEBHOOK = "webhook"
STREAM_KINDS = {"stream_https": "HTTPS (JSON)", "stream_splunk": "Splunk HEC"}
KINDS = (WEBHOOK, *STREAM_KINDS)
ROTATION_OVERLAP = timedelta(hours=24)
MAX_DESTINATIONS = 20  # per org and kind family
URL_MAX = 2048
_SEAL_PURPOSE = "event-destination-secret"


class DestinationError(ValueError):
    """Bad input; ``field`` names the form field / JSON member."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Created:
    destination: EventDestination
    secret: str | None  # shown once (a webhook's signing secret); None for streams


# ---------------------------------------------------------------------------- validation


def validate_url(url: str, allow_private: bool) -> str:
    url = (url or "").strip()
    if not url:
        raise DestinationError("url", "Enter the URL to send events to.")
    if len(url) > URL_MAX:
        raise DestinationError("url", f"The URL is longer than {URL_MAX} characters.")
    try:
        url = check_url(url, allow_private)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except FetchError as exc:
        raise DestinationError("url", str(exc)) from exc
    except ValueError as exc:
        raise DestinationError("url", "That is not a valid URL.") from exc
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.fragment:
        raise DestinationError("url", "The URL must not contain a #fragment.")
    if not allow_private:
        # The worker checks the connected address on every request (DNS may change); this
        # refuses the obvious cases when the URL is entered.
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        local_name = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
        if local_name or "." not in host or (
            literal is not None and not address_allowed(str(literal), False)
        ):
            raise DestinationError(
                "url", "The URL points at a private, loopback or link-local address.")
    return url


def validate_types(event_types) -> list[str]:
    if event_types is None:
        return []
    if isinstance(event_types, str) or not isinstance(event_types, list | tuple):
        raise DestinationError("event_types", "Give a list of event types.")
    if len(event_types) > MAX_FILTER:
        raise DestinationError(
            "event_types", f"At most {MAX_FILTER} event types (there are only that many).")
    unknown = [t for t in event_types if not isinstance(t, str) or t not in ALL_TYPES]
    if unknown:
        shown = ", ".join(str(t)[:40] for t in unknown[:3])
        raise DestinationError("event_types", f"Unknown event type: {shown}.")
    return [t for t in ALL_TYPES if t in set(event_types)]


def _description(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > 200:
        raise DestinationError("description", "Keep the description under 200 characters.")
    return text


# ------------------------------------------------------------------------------- secrets


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def seal(secret_key: str, secret: str) -> str:
    return secretbox.encrypt(secret_key, _SEAL_PURPOSE, secret.encode())


def unseal(secret_key: str, sealed: str | None) -> str | None:
    if not sealed:
        return None
    value = secretbox.decrypt(secret_key, _SEAL_PURPOSE, sealed)
    return value.decode() if value is not None else None


# ------------------------------------------------------------------------------ managing


def list_destinations(session: Session, *, streams: bool) -> list[EventDestination]:
    kinds = list(STREAM_KINDS) if streams else [WEBHOOK]
    return list(session.scalars(
        select(EventDestination).where(EventDestination.kind.in_(kinds))
        .order_by(EventDestination.created_at, EventDestination.id)))


def get(session: Session, destination_id, *, streams: bool) -> EventDestination | None:
    try:
        parsed = uuid.UUID(str(destination_id))
    except ValueError:
        return None
    row = session.scalar(select(EventDestination).where(EventDestination.id == parsed))
    if row is None or row.is_stream != streams:
        return None
    return row


def create(
    session: Session, *, org_id: uuid.UUID, kind: str, url: str, description: str = "",
    event_types=None, token: str | None = None, created_by: uuid.UUID | None, actor: Actor,
    secret_key: str, allow_private: bool,
) -> Created:
    if kind not in KINDS:
        raise DestinationError("kind", "Choose a destination type.")
    url = validate_url(url, allow_private)
    description = _description(description)
    streams = kind != WEBHOOK
    count = session.scalar(select(func.count()).select_from(EventDestination).where(
        EventDestination.kind.in_(list(STREAM_KINDS) if streams else [WEBHOOK])))
    if count >= MAX_DESTINATIONS:
        raise DestinationError("url", f"An organization can have at most {MAX_DESTINATIONS}.")
    secret = None
    if kind == WEBHOOK:
        types = validate_types(event_types)
        secret = new_secret()
        sealed = seal(secret_key, secret)
    else:
        types = []
        token = (token or "").strip()
        if kind == "stream_splunk" and not token:
            raise DestinationError("token", "Enter the HEC token.")
        if len(token) > 500:
            raise DestinationError("token", "The token is too long.")
        sealed = seal(secret_key, token) if token else None
    destination = EventDestination(
        id=uuid.uuid4(), org_id=org_id, kind=kind, url=url, description=description,
        event_types=types, secret_sealed=sealed, created_by=created_by,
    )
    session.add(destination)
    session.flush()
    record_audit(session, org_id=org_id, actor=actor, action=_action(destination, "create"),
                 target=_target(destination), after=_snapshot(destination))
    return Created(destination, secret)


def update(
    session: Session, destination: EventDestination, *, url: str, description: str,
    event_types=None, actor: Actor, allow_private: bool,
) -> None:
    before = _snapshot(destination)
    destination.url = validate_url(url, allow_private)
    destination.description = _description(description)
    if destination.kind == WEBHOOK:
        destination.event_types = validate_types(event_types)
    session.flush()
    record_audit(session, org_id=destination.org_id, actor=actor,
                 action=_action(destination, "update"), target=_target(destination),
                 before=before, after=_snapshot(destination))


def rotate_secret(session: Session, destination: EventDestination, *, actor: Actor,
                  secret_key: str) -> str:
    """A new signing secret, shown once; the old one keeps signing for ROTATION_OVERLAP."""
    if destination.kind != WEBHOOK:
        raise DestinationError("secret", "Only webhook endpoints have a signing secret.")
    secret = new_secret()
    now = session.scalar(select(func.now()))
    destination.previous_secret_sealed = destination.secret_sealed
    destination.previous_secret_until = now + ROTATION_OVERLAP
    destination.secret_sealed = seal(secret_key, secret)
    session.flush()
    record_audit(session, org_id=destination.org_id, actor=actor,
                 action=_action(destination, "rotate_secret"), target=_target(destination),
                 details={"previous_valid_until": destination.previous_secret_until.isoformat()})
    return secret


def set_enabled(session: Session, destination: EventDestination, enabled: bool, *,
                actor: Actor, reason: str | None = None) -> None:
    if destination.enabled == enabled:
        return
    destination.enabled = enabled
    destination.disabled_reason = None if enabled else (reason or "Disabled by hand.")[:300]
    if enabled:
        destination.failing_since = None
    session.flush()
    record_audit(session, org_id=destination.org_id, actor=actor,
                 action=_action(destination, "enable" if enabled else "disable"),
                 target=_target(destination),
                 details={"reason": destination.disabled_reason} if not enabled else None)


def delete(session: Session, destination: EventDestination, *, actor: Actor) -> None:
    record_audit(session, org_id=destination.org_id, actor=actor,
                 action=_action(destination, "delete"), target=_target(destination),
                 before=_snapshot(destination))
    session.delete(destination)
    session.flush()


def _action(destination: EventDestination, verb: str) -> str:
    return f"{'audit_stream' if destination.is_stream else 'webhook'}.{verb}"


def _target(destination: EventDestination) -> str:
    return f"{'stream' if destination.is_stream else 'webhook'}:{destination.id}"


def _snapshot(destination: EventDestination) -> dict:
    return {"url": destination.url, "kind": destination.kind,
            "event_types": list(destination.event_types or []),
            "description": destination.description}
