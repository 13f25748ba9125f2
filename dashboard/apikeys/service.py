"""API key rules: create, list, revoke, authenticate. No Flask here.

Creating and revoking run in the caller's RLS-scoped session (the org comes from the gate).
Authenticating starts before any org is known, through ``app_api_key_lookup`` (SECURITY
DEFINER, one prefix -> id, org, hash, scopes, state); the caller then opens the key's own
context, where the gate ``app_current_org()`` has the last word (a suspended org, or a key
revoked a moment ago, reads zero rows).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from dashboard.apikeys import tokens
from dashboard.audit.service import Actor, record_audit
from dashboard.metadata import rules as metadata_rules
from dashboard.metadata import service as metadata_service
from dashboard.models import Organization, OrgCredential, User
from dashboard.permissions import GRANTABLE_SCOPES, ApiScope

MAX_LIFETIME = timedelta(days=3 * 365)
NAME_MAX = 100


class ApiKeyError(ValueError):
    """Bad input when creating a key; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class KeyRefused(Exception):
    """The presented key does not open any org. ``code``/``message`` go to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


MALFORMED = ("invalid_api_key", "Malformed API key: keys look like td_live_<prefix>_<secret>.")
UNKNOWN = ("invalid_api_key", "This API key is not valid.")
REFUSED_STATES = {
    "revoked": ("api_key_revoked", "This API key has been revoked."),
    "expired": ("api_key_expired", "This API key has expired."),
}
GATE_CLOSED = (
    "org_inactive",
    "This API key's organization is suspended, or the key was revoked a moment ago.",
)


@dataclass(frozen=True)
class CreatedKey:
    id: uuid.UUID
    name: str
    plaintext: str  # shown once, never stored


@dataclass(frozen=True)
class KeyRow:
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return tokens.display(self.prefix)

    def status(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class KeyIdentity:
    """A key whose secret matched and which is neither revoked nor expired."""

    credential_id: uuid.UUID
    org_id: uuid.UUID
    scopes: frozenset[str]


@dataclass(frozen=True)
class OpenedOrg:
    id: uuid.UUID
    slug: str
    name: str
    plan: str


# ----------------------------------------------------------------------------- managing


def validate(name: str, scopes: list[str], expires_at: datetime | None, now: datetime):
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ApiKeyError("name", f"Give the key a name of 1–{NAME_MAX} characters.")
    unknown = set(scopes) - {s.value for s in GRANTABLE_SCOPES}
    if unknown:
        raise ApiKeyError("scopes", f"Unknown scope: {', '.join(sorted(unknown))}.")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= now:
            raise ApiKeyError("expires", "The expiry must be in the future.")
        if expires_at > now + MAX_LIFETIME:
            raise ApiKeyError("expires", "Keys can live at most three years.")
    ordered = [s.value for s in GRANTABLE_SCOPES if s.value in set(scopes)]
    return name, ordered, expires_at


def create_key(
    session: Session,
    *,
    org_id: uuid.UUID,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    created_by: uuid.UUID | None,
    hmac_key: bytes,
    actor: Actor,
    metadata: dict[str, str] | None = None,
) -> CreatedKey:
    name, scopes, expires_at = validate(name, scopes, expires_at, datetime.now(UTC))
    try:
        metadata = metadata_rules.check(metadata or {})
    except metadata_rules.MetadataError as exc:
        raise ApiKeyError("metadata", exc.message) from None
    prefix, secret, plaintext = tokens.generate()
    credential = OrgCredential(
        id=uuid.uuid4(),
        org_id=org_id,
        kind="api_key",
        name=name,
        prefix=prefix,
        secret_hash=tokens.hash_secret(hmac_key, prefix, secret),
        scopes=scopes,
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(credential)
    session.flush()
    if metadata:
        metadata_service.add_key_metadata(session, org_id, credential.id, metadata)
    record_audit(
        session,
        org_id=org_id,
        actor=actor,
        action="apikey.create",
        target=f"apikey:{prefix}",
        after={
            "name": name,
            "scopes": scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "metadata": metadata,
        },
    )
    return CreatedKey(credential.id, name, plaintext)


def _keys_query(metadata: tuple[str, str] | None = None):
    query = (
        select(
            OrgCredential.org_id,
            OrgCredential.id,
            OrgCredential.name,
            OrgCredential.prefix,
            OrgCredential.scopes,
            OrgCredential.created_at,
            User.email,
            OrgCredential.expires_at,
            OrgCredential.revoked_at,
            OrgCredential.last_used_at,
        )
        .outerjoin(User, User.id == OrgCredential.created_by)
        .where(OrgCredential.kind == "api_key")
        .order_by(OrgCredential.created_at.desc(), OrgCredential.id)
    )
    if metadata is not None:  # one exact key=value, through the metadata index
        query = query.where(text(
            "EXISTS (SELECT 1 FROM api_key_metadata m WHERE m.org_id = org_credentials.org_id"
            " AND m.credential_id = org_credentials.id AND m.key = :meta_key"
            " AND m.value = :meta_value)"
        ).bindparams(meta_key=metadata[0], meta_value=metadata[1]))
    return query


def _with_metadata(session: Session, rows) -> list[KeyRow]:
    if not rows:
        return []
    found = metadata_service.read(session, metadata_service.API_KEY, rows[0].org_id,
                                  [row.id for row in rows])
    return [KeyRow(*row[1:], metadata=found.get(row.id, {})) for row in rows]


def list_keys(session: Session) -> list[KeyRow]:
    """The current org's API keys (RLS decides which org), newest first, with metadata."""
    return _with_metadata(session, session.execute(_keys_query()).all())


def key_page(session: Session, *, offset: int, limit: int,
             metadata: tuple[str, str] | None = None) -> tuple[list[KeyRow], bool]:
    """One page of the current org's keys (newest first), optionally only those whose
    metadata has ``key = value``; and whether another page follows."""
    rows = session.execute(_keys_query(metadata).offset(offset).limit(limit + 1)).all()
    return _with_metadata(session, rows[:limit]), len(rows) > limit


def _key_row(session: Session, key_id: uuid.UUID):
    return session.execute(_keys_query().where(OrgCredential.id == key_id)).one_or_none()


def get_key(session: Session, key_id: uuid.UUID) -> KeyRow | None:
    """One of the current org's keys; None for a missing one or another org's (the same)."""
    row = _key_row(session, key_id)
    return None if row is None else _with_metadata(session, [row])[0]


def replace_key_metadata(session: Session, key_id: uuid.UUID, values: dict[str, str], *,
                         actor: Actor) -> KeyRow | None:
    """Replace a key's whole metadata map (revoked keys too: it is bookkeeping, not access);
    audited as ``apikey.update`` when anything changed. None: no such key in this org."""
    row = _key_row(session, key_id)
    if row is None:
        return None
    before = _with_metadata(session, [row])[0].metadata
    values = metadata_rules.check(values)
    if values != before:
        metadata_service.replace_key_metadata(session, row.org_id, key_id, values)
        record_audit(session, org_id=row.org_id, actor=actor, action="apikey.update",
                     target=f"apikey:{row.prefix}", before={"metadata": before},
                     after={"metadata": values})
    return get_key(session, key_id)


def revoke_key(session: Session, key_id: uuid.UUID, actor: Actor) -> KeyRow | None:
    """Revoke one of the current org's keys. None when no such key is visible (another
    org's key id looks exactly like a missing one)."""
    credential = session.scalar(
        select(OrgCredential).where(OrgCredential.id == key_id, OrgCredential.kind == "api_key")
    )
    if credential is None:
        return None
    if credential.revoked_at is None:
        credential.revoked_at = datetime.now(UTC)
        session.flush()
        record_audit(
            session,
            org_id=credential.org_id,
            actor=actor,
            action="apikey.revoke",
            target=f"apikey:{credential.prefix}",
            before={"name": credential.name, "scopes": list(credential.scopes)},
        )
    return next(k for k in list_keys(session) if k.id == key_id)


# ----------------------------------------------------------------------------- using

_LOOKUP_SQL = text(
    "SELECT credential_id, org_id, secret_hash, scopes, state FROM app_api_key_lookup(:prefix)"
)
_DUMMY_HASH = bytes(32)


def authenticate(
    session: Session, token: str, hmac_key: bytes | tuple[bytes, ...], *, parse=tokens.parse,
    lookup=_LOOKUP_SQL,
) -> KeyIdentity:
    """Check a presented key's secret in constant time; raise KeyRefused if it opens nothing.

    Runs in a session with no tenant context: the look-up function is the only way in.
    SCIM tokens (dashboard/scim/tokens.py) pass their own ``parse`` and ``lookup``.
    """
    parsed = parse(token)
    if parsed is None:
        raise KeyRefused(*MALFORMED)
    rows = session.execute(lookup, {"prefix": parsed.prefix}).all()
    found = None
    for row in rows:  # a prefix is unique per org; across orgs a clash is astronomically rare
        if tokens.matches(hmac_key, parsed, row.secret_hash):
            found = row
    if not rows:
        tokens.matches(hmac_key, parsed, _DUMMY_HASH)  # same work whether or not it exists
    if found is None:
        raise KeyRefused(*UNKNOWN)
    if found.state in REFUSED_STATES:
        raise KeyRefused(*REFUSED_STATES[found.state])
    scopes = frozenset(found.scopes) | {ApiScope.ORG_READ.value}
    return KeyIdentity(found.credential_id, found.org_id, scopes)


def opened_org(session: Session) -> OpenedOrg | None:
    """The org the session's context opens, or None when the gate is closed (suspended org,
    key revoked or expired since the look-up)."""
    row = session.execute(
        select(Organization.id, Organization.slug, Organization.name, Organization.plan)
    ).one_or_none()
    return OpenedOrg(*row) if row else None


def touch(session: Session, credential_id: uuid.UUID, every: timedelta) -> None:
    """Record use, at most once per ``every`` across all processes (the WHERE clause)."""
    session.execute(
        update(OrgCredential)
        .where(
            OrgCredential.id == credential_id,
            (OrgCredential.last_used_at.is_(None))
            | (OrgCredential.last_used_at < datetime.now(UTC) - every),
        )
        .values(last_used_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )


class TouchThrottle:
    """Per-process memory of when each key was last touched, so most requests skip the
    UPDATE entirely; the SQL condition in ``touch`` covers the other processes."""

    def __init__(self, every: timedelta) -> None:
        self.every = every
        self._seconds = every.total_seconds()
        self._last: dict[uuid.UUID, float] = {}
        self._lock = threading.Lock()

    def due(self, credential_id: uuid.UUID) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(credential_id)
            if last is not None and now - last < self._seconds:
                return False
            if len(self._last) > 100_000:  # bounded memory under key churn
                self._last.clear()
            self._last[credential_id] = now
            return True
