"""The shape of an API key and how its secret is stored. No Flask, no database.

A key reads ``td_live_<prefix>_<secret>``: the 12-character prefix finds the row (it is shown
in lists), the secret is 256 random bits that never leave this process except once, to the
person who made the key. The database keeps HMAC-SHA-256(server key, prefix + secret): a
random 256-bit secret needs no slow hash, and the server key makes a stolen table useless
on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

TOKEN_PREFIX = "td_live_"  # noqa: S105 - the public shape of a key, not a secret
PREFIX_LENGTH = 12
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_BYTES = 32
_TOKEN_RE = re.compile(r"^td_live_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_DERIVE_LABEL = b"tenantdesk/api-key-hash/v1"


@dataclass(frozen=True)
class ParsedKey:
    prefix: str
    secret: str


def generate() -> tuple[str, str, str]:
    """A fresh (prefix, secret, plaintext key)."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return prefix, secret, f"{TOKEN_PREFIX}{prefix}_{secret}"


def looks_like_key(token: str) -> bool:
    return token.startswith("td_")


def parse(token: str) -> ParsedKey | None:
    match = _TOKEN_RE.match(token)
    return ParsedKey(match.group(1), match.group(2)) if match else None


def server_key(dedicated: str | None, secret_key: str) -> bytes:
    """The HMAC key: the dedicated setting, else derived from SECRET_KEY (never SECRET_KEY
    itself, so the two uses cannot be confused)."""
    if dedicated:
        return dedicated.encode()
    return hmac.new(secret_key.encode(), _DERIVE_LABEL, hashlib.sha256).digest()


def server_keys(dedicated: str | None, secret_key: str, dedicated_fallbacks=(),
                secret_key_fallbacks=()) -> tuple[bytes, ...]:
    """The current HMAC key first, then old ones still accepted while rotating: old dedicated
    keys, or, while no dedicated key is set, the keys derived from old SECRET_KEYs."""
    keys = [server_key(dedicated, secret_key)]
    keys += [server_key(old, secret_key) for old in dedicated_fallbacks]
    if not dedicated:
        keys += [server_key(None, old) for old in secret_key_fallbacks]
    return tuple(dict.fromkeys(keys))


def hash_secret(key: bytes, prefix: str, secret: str) -> bytes:
    return hmac.new(key, f"{prefix}.{secret}".encode(), hashlib.sha256).digest()


def matches(key: bytes | tuple[bytes, ...], parsed: ParsedKey, stored: bytes) -> bool:
    """Whether the stored hash is the secret's under ``key`` (or any of several keys; each
    is tried, so the work does not depend on which one matches)."""
    keys = (key,) if isinstance(key, bytes) else key
    results = [hmac.compare_digest(hash_secret(k, parsed.prefix, parsed.secret), bytes(stored))
               for k in keys]
    return any(results)


def display(prefix: str) -> str:
    """How a key is shown after creation: enough to recognise it, nothing to use."""
    return f"{TOKEN_PREFIX}{prefix}_…"
