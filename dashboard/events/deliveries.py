"""Deliveries: claim, send, record. No Flask here; the worker drives it.

A claim is a short transaction in the org's RLS context: due deliveries are locked
``FOR UPDATE SKIP LOCKED``, their attempt counter goes up and they get a lease
(``lease_until``, which doubles as the claim token). The HTTP request runs outside any
transaction. The result is recorded in a second transaction only if the lease is still ours
(same ``lease_until``); the attempt log's key ``(org_id, delivery_id, attempt)`` refuses a
second record of one attempt. A worker that dies mid-delivery leaves a lease that expires:
another worker claims the delivery again (at least once; receivers deduplicate on
``webhook-id``).

Failures retry with exponential backoff and ±20 % jitter over about three days
(``RETRY_DELAYS``); a destination failing without a single success for
``disable_after`` seconds is disabled and its org's owners are mailed.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from dashboard import mail
from dashboard.audit.service import SYSTEM
from dashboard.events import catalogue
from dashboard.events.endpoints import unseal
from dashboard.models import AuditEvent, DeliveryAttempt, EventDestination, OutboxEvent
from dashboard.sso.fetch import FetchError, post

# Seconds to wait after failed attempt n (1-based); after the last one the delivery fails.
# 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h x4: about 2.8 days, 14 attempts.
RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200, 43200, 43200, 43200)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
SNIPPET = 500
USER_AGENT = "Tenantdesk-Webhooks/1"


@dataclass(frozen=True)
class Settings:
    secret_key: str
    allow_private: bool = False
    timeout: float = 10.0
    lease_seconds: float = 60.0
    retry_scale: float = 1.0
    disable_after: float = 3 * 86400.0
    batch: int = 10
    stream_batch: int = 100
    worker: str = "worker"
    base_url: str = ""
    mailer: object | None = None

    @classmethod
    def from_config(cls, config, worker: str = "worker", mailer=None) -> Settings:
        return cls(
            secret_key=config["SECRET_KEY"],
            allow_private=bool(config.get("ALLOW_PRIVATE_EVENT_URLS")),
            timeout=float(config.get("EVENTS_HTTP_TIMEOUT", 10)),
            lease_seconds=float(config.get("EVENTS_LEASE_SECONDS", 60)),
            retry_scale=float(config.get("EVENTS_RETRY_SCALE", 1.0)),
            disable_after=float(config.get("EVENTS_DISABLE_AFTER_SECONDS", 3 * 86400)),
            worker=worker[:100],
            base_url=config.get("BASE_URL", ""),
            mailer=mailer,
        )


@dataclass(frozen=True)
class Claim:
    org_id: uuid.UUID
    destination_id: uuid.UUID
    url: str
    deliveries: tuple[tuple[uuid.UUID, int], ...]  # (delivery id, its attempt number)
    token: datetime  # lease_until set by this claim
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    emitted_at: datetime | None = None  # the (first) event's audit timestamp

    @property
    def attempt(self) -> int:
        return max(n for _, n in self.deliveries)


@dataclass(frozen=True)
class Outcome:
    started_at: datetime
    latency_ms: int
    status_code: int | None
    error: str | None
    snippet: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempt: int, scale: float = 1.0, rng=random) -> float | None:
    """Seconds before the next try after failed attempt ``attempt``; None: give up."""
    if attempt >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[attempt - 1] * scale * (0.8 + 0.4 * rng.random())


# ------------------------------------------------------------------------------ claiming

_CLAIM_WEBHOOKS = text(
    """
    WITH picked AS (
      SELECT d.org_id, d.id FROM event_deliveries d
        JOIN event_destinations e ON e.org_id = d.org_id AND e.id = d.destination_id
       WHERE d.status = 'pending' AND d.next_attempt_at <= now()
         AND (d.lease_until IS NULL OR d.lease_until < clock_timestamp())
         AND e.kind = 'webhook' AND e.enabled
       ORDER BY d.next_attempt_at LIMIT :n
       FOR UPDATE OF d SKIP LOCKED)
    UPDATE event_deliveries d
       SET attempts = d.attempts + 1,
           lease_until = clock_timestamp() + make_interval(secs => :lease)
      FROM picked WHERE d.org_id = picked.org_id AND d.id = picked.id
    RETURNING d.id, d.destination_id, d.outbox_seq, d.event_type, d.message_id, d.attempts,
              d.lease_until
    """
)


def audit_rows(session: Session, seqs) -> dict[int, AuditEvent]:
    rows = session.execute(
        select(OutboxEvent.seq, AuditEvent)
        .join(AuditEvent, (AuditEvent.org_id == OutboxEvent.org_id)
              & (AuditEvent.id == OutboxEvent.audit_event_id))
        .where(OutboxEvent.seq.in_(list(seqs))))
    return {seq: row for seq, row in rows}


def claim_webhooks(session: Session, org_id: uuid.UUID, settings: Settings) -> list[Claim]:
    """Claim up to ``settings.batch`` due webhook deliveries of the session's org."""
    rows = session.execute(_CLAIM_WEBHOOKS, {"n": settings.batch,
                                            "lease": settings.lease_seconds}).all()
    if not rows:
        return []
    destinations = {d.id: d for d in session.scalars(select(EventDestination).where(
        EventDestination.id.in_({r.destination_id for r in rows})))}
    audits = audit_rows(session, {r.outbox_seq for r in rows})
    claims = []
    for row in rows:
        destination = destinations[row.destination_id]
        body = json.dumps(catalogue.payload(row.event_type, audits[row.outbox_seq]),
                          separators=(",", ":"), sort_keys=True).encode()
        claims.append(Claim(
            org_id=org_id, destination_id=destination.id, url=destination.url,
            deliveries=((row.id, row.attempts),), token=row.lease_until, body=body,
            emitted_at=audits[row.outbox_seq].at,
            headers=sign(destination, row.message_id, body, settings.secret_key,
                         session_now(session)),
        ))
    return claims


def session_now(session: Session) -> datetime:
    return session.scalar(text("SELECT clock_timestamp()"))


def sign(destination: EventDestination, message_id: str, body: bytes, secret_key: str,
         now: datetime) -> dict[str, str]:
    """Standard Webhooks headers; during a rotation's overlap, signed with both secrets."""
    secrets = [unseal(secret_key, destination.secret_sealed)]
    if destination.previous_secret_until and destination.previous_secret_until > now:
        secrets.append(unseal(secret_key, destination.previous_secret_sealed))
    stamp = datetime.fromtimestamp(int(time.time()), UTC)
    signatures = [Webhook(s).sign(message_id, stamp, body.decode()) for s in secrets if s]
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


# ------------------------------------------------------------------------------- sending


def send(claim: Claim, settings: Settings) -> Outcome:
    started = datetime.now(UTC)
    clock = time.monotonic()
    try:
        answer = post(claim.url, body=claim.body, headers=claim.headers,
                      allow_private=settings.allow_private, timeout=settings.timeout)
    except FetchError as exc:
        return Outcome(started, _ms(clock), None, str(exc)[:500], None)
    snippet = answer.body.decode("utf-8", "replace")[:SNIPPET]
    error = None
    if 300 <= answer.status < 400:
        error = "Redirects are not followed; give the final URL."
    elif not 200 <= answer.status < 300:
        error = f"HTTP {answer.status}"
    return Outcome(started, _ms(clock), answer.status, error, snippet)


def _ms(clock: float) -> int:
    return int((time.monotonic() - clock) * 1000)


# ----------------------------------------------------------------------------- recording


def relaxed_commit(session: Session) -> None:
    """The worker's own transactions need not wait for the WAL flush: if the database loses
    the last moments of them in a crash, a claim or a result is lost and the delivery is
    simply sent again (at least once). Never used for the change that emits the event."""
    session.execute(text("SET LOCAL synchronous_commit = off"))


_RELEASE = text(
    """
    UPDATE event_deliveries
       SET status = :status, lease_until = NULL, next_attempt_at = :next,
           finished_at = CASE WHEN :status = 'pending' THEN NULL ELSE clock_timestamp() END
     WHERE id = ANY(CAST(:ids AS uuid[])) AND lease_until = :token AND status = 'pending'
    RETURNING id
    """
)


def record(session: Session, claim: Claim, outcome: Outcome, settings: Settings) -> str | None:
    """Write the attempt and the delivery's next state; None if the claim was lost (its
    lease expired and another worker took it). The caller commits."""
    now = session_now(session)
    delay = None if outcome.ok else retry_delay(claim.attempt, settings.retry_scale)
    status = "delivered" if outcome.ok else ("failed" if delay is None else "pending")
    next_at = now if delay is None else datetime.fromtimestamp(now.timestamp() + delay, UTC)
    released = session.execute(_RELEASE, {
        "status": status, "next": next_at, "ids": [d for d, _ in claim.deliveries],
        "token": claim.token,
    }).scalars().all()
    if not released:
        return None
    for delivery_id, attempt in claim.deliveries:
        if delivery_id in released:
            session.add(DeliveryAttempt(
                org_id=claim.org_id, delivery_id=delivery_id, attempt=attempt,
                started_at=outcome.started_at, latency_ms=outcome.latency_ms,
                status_code=outcome.status_code, error=outcome.error,
                response_snippet=outcome.snippet, worker=settings.worker))
    destination = session.get(EventDestination, (claim.org_id, claim.destination_id))
    if destination is not None:
        _destination_health(session, destination, claim, outcome, now, next_at, settings)
    session.flush()
    return status


def _destination_health(session, destination, claim, outcome, now, next_at, settings) -> None:
    if claim.stream and destination.lease_until == claim.token:
        # A stream's lease is also its back-off: nothing else goes out before the retry.
        destination.lease_until = None if outcome.ok else next_at
    if outcome.ok:
        if destination.failing_since is not None:
            destination.failing_since = None
        return
    if destination.failing_since is None:
        destination.failing_since = now
    elif destination.enabled and (now - destination.failing_since).total_seconds() >= \
            settings.disable_after:
        _disable(session, destination, settings)


def _disable(session: Session, destination: EventDestination, settings: Settings) -> None:
    from dashboard.events.endpoints import set_enabled

    days = settings.disable_after / 86400
    reason = (f"Disabled automatically: every delivery failed for {days:g} day(s)"
              f" (last error at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC).")
    set_enabled(session, destination, False, actor=SYSTEM, reason=reason)
    session.execute(text(
        "UPDATE event_deliveries SET status = 'cancelled', lease_until = NULL,"
        " finished_at = clock_timestamp()"
        " WHERE destination_id = :d AND status = 'pending' AND lease_until IS NULL"),
        {"d": destination.id})
    if settings.mailer is None:
        return
    owners = session.execute(text("SELECT email FROM app_events_owner_emails()")).scalars()
    what = "audit-log stream" if destination.is_stream else "webhook endpoint"
    mails = [mail.Mail(
        to=email,
        subject=f"Tenantdesk: your {what} was disabled",
        text=(f"The {what} {destination.url} has failed every delivery for {days:g} day(s),"
              f" so Tenantdesk disabled it.\n\nFix the receiver, then enable it again in"
              f" the organization's settings ({settings.base_url}).\n"),
    ) for email in owners]
    mail.send_after_commit(session, settings.mailer, mails)

