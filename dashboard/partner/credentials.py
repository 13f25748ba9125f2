"""Provider (partner) API credentials: ``tdp_<prefix>_<secret>``, stored only as a keyed hash."""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.secretbox import keyed_hash

_FORMAT = re.compile(r"^tdp_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$")
PURPOSE = "provider-key"


@dataclass(frozen=True)
class Provider:
    id: uuid.UUID
    name: str
    grace_days: int


def create_provider(
    session: Session, secret_key: str, name: str, grace_days: int = 30
) -> tuple[Provider, str]:
    """Register a provider; returns it and its credential (shown once)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = session.execute(
        text(
            "INSERT INTO providers (name, key_prefix, key_hash, grace_days)"
            " VALUES (:name, :prefix, :hash, :grace) RETURNING id"
        ),
        {"name": name, "prefix": prefix, "hash": keyed_hash(secret_key, PURPOSE, secret),
         "grace": grace_days},
    ).one()
    return Provider(row.id, name, grace_days), f"tdp_{prefix}_{secret}"


def authenticate(session: Session, secret_key: str, authorization: str | None) -> Provider | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    match = _FORMAT.match(authorization.removeprefix("Bearer ").strip())
    if not match:
        return None
    prefix, secret = match.groups()
    row = session.execute(
        text("SELECT provider_id AS id, name, key_hash, grace_days"
             " FROM app_provider_lookup(:p)"),
        {"p": prefix},
    ).one_or_none()
    expected = row.key_hash if row else keyed_hash(secret_key, PURPOSE, "x" * 43)
    if not hmac.compare_digest(bytes(expected), keyed_hash(secret_key, PURPOSE, secret)) or not row:
        return None
    return Provider(row.id, row.name, row.grace_days)
