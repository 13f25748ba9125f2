"""Secrets at rest (OIDC client secrets): AES-256-GCM, bound to the row they belong to.

The key is ``SSO_ENCRYPTION_KEY`` (32 random bytes, urlsafe base64) when set, otherwise
derived from ``SECRET_KEY`` with HKDF. With the derived key, changing SECRET_KEY makes stored
client secrets unreadable (admins re-enter them), so production should set the dedicated key.
The associated data is the connection id: a sealed value copied onto another org's row
does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"


class SecretUnreadable(Exception):
    """The stored secret cannot be opened (other key, other row, or damaged)."""


def key_from_config(config) -> bytes:
    dedicated = config.get("SSO_ENCRYPTION_KEY")
    if dedicated:
        key = base64.urlsafe_b64decode(dedicated)
        if len(key) != 32:
            raise ValueError("SSO_ENCRYPTION_KEY must be 32 bytes, urlsafe base64")
        return key
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tenantdesk sso secrets v1"
    ).derive(config["SECRET_KEY"].encode())


def seal(key: bytes, plaintext: str, bound_to: str) -> bytes:
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), bound_to.encode())


def open_sealed(key: bytes, sealed: bytes, bound_to: str) -> str:
    if not sealed or sealed[:1] != VERSION:
        raise SecretUnreadable("unknown format")
    try:
        return AESGCM(key).decrypt(sealed[1:13], sealed[13:], bound_to.encode()).decode()
    except InvalidTag as exc:
        raise SecretUnreadable("does not open with this key for this connection") from exc
