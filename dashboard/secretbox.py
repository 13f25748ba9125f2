"""Authenticated encryption for small secrets at rest (Fernet, key derived from SECRET_KEY).

Used where a value must be recoverable (a provisioning response replayed to a retrying
partner). Credentials that only need checking are hashed instead (see ``keyed_hash``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )


def encrypt(secret_key: str, purpose: str, plaintext: bytes) -> str:
    key = base64.urlsafe_b64encode(_derive(secret_key, b"tenantdesk-box:" + purpose.encode()))
    return Fernet(key).encrypt(plaintext).decode()


def decrypt(secret_key: str, purpose: str, token: str, ttl: int | None = None) -> bytes | None:
    key = base64.urlsafe_b64encode(_derive(secret_key, b"tenantdesk-box:" + purpose.encode()))
    try:
        return Fernet(key).decrypt(token.encode(), ttl=ttl)
    except InvalidToken:
        return None


def keyed_hash(secret_key: str, purpose: str, value: str) -> bytes:
    """HMAC-SHA-256 of a random credential secret, keyed per purpose."""
    key = _derive(secret_key, b"tenantdesk-hash:" + purpose.encode())
    return hmac.new(key, value.encode(), hashlib.sha256).digest()
