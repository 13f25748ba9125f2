"""The keys that sign org-scoped access tokens: create, rotate, publish. No Flask here.

Why in the database (table ``signing_keys``) rather than in files under instance/: app servers
are stateless and scale out, so they must all sign with the same current key and see a
rotation at the same moment; a shared table gives both without copying files around.
Private keys are stored only encrypted (AES-256-GCM, the kid as associated data) under a key
derived from ``TOKEN_KEY_SECRET`` (or ``SECRET_KEY``), which lives outside the database, so a
database dump alone cannot mint tokens. The public key is never read from the database: it
is derived from the decrypted private key, so a row someone slipped into the table without
the secret is ignored instead of trusted.

Rotation inserts a new current key and retires the old one; a retired key stays published
(and accepted) for ``publish_for``, far longer than any access token lives, so rotating logs
nobody out and earlier tokens stay valid until they expire.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import text

from dashboard import tenancy

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
_NONCE_BYTES = 12
_LOCK_ID = 4_004_001  # pg_advisory_xact_lock key: one key creation at a time


class KeyUnavailable(RuntimeError):
    """No usable signing key (the current one cannot be decrypted with this secret)."""


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    key: ECKey  # private; ``public`` is what gets published
    current: bool

    @property
    def public(self) -> dict:
        return self.key.as_dict(private=False)


def _wrapping_key(secret: str | bytes) -> AESGCM:
    material = secret.encode() if isinstance(secret, str) else secret
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tenantdesk signing keys v1"
    ).derive(material)
    return AESGCM(derived)


def _new_kid() -> str:
    return time.strftime("%Y%m%d") + "-" + secrets.token_urlsafe(9)


class Keyring:
    """Process-wide cache of the signing keys, refreshed from the database.

    ``sessionmaker`` makes runtime-role sessions; the table is global, so no tenant context.
    """

    def __init__(
        self,
        sessionmaker,
        secret: str | bytes,
        *,
        publish_for: timedelta = timedelta(days=1),
        refresh_every: float = 30.0,
        miss_refresh_every: float = 1.0,
        old_secrets=(),
    ) -> None:
        self._sessions = sessionmaker
        self._aead = _wrapping_key(secret)
        # Secrets being rotated out: they still open keys sealed before the rotation (new
        # keys are always sealed with ``secret``).
        self._old_aeads = [_wrapping_key(old) for old in old_secrets]
        self._publish_for = publish_for
        self._refresh_every = refresh_every
        self._miss_refresh_every = miss_refresh_every
        self._lock = threading.Lock()
        self._keys: dict[str, LoadedKey] = {}
        self._current: LoadedKey | None = None
        self._loaded_at = float("-inf")

    # ----------------------------------------------------------------------- reading

    def current(self) -> LoadedKey:
        """The key to sign with now; creates the first key when there is none."""
        self._refresh_if_older_than(self._refresh_every)
        if self._current is None:
            self._create_if_missing()
            self._refresh_if_older_than(0)
        if self._current is None:
            raise KeyUnavailable(
                "The current access-token signing key cannot be decrypted with this server's "
                "TOKEN_KEY_SECRET / SECRET_KEY. Use the secret it was created with, or run "
                "`tenantdesk rotate-signing-key`."
            )
        return self._current

    def find(self, kid: str) -> LoadedKey | None:
        """A published key by id. An unknown kid refreshes at most once a second, so another
        server's fresh rotation is picked up and random kids cannot hammer the database."""
        self._refresh_if_older_than(self._refresh_every)
        found = self._keys.get(kid)
        if found is None:
            self._refresh_if_older_than(self._miss_refresh_every)
            found = self._keys.get(kid)
        return found

    def public_keyset(self) -> KeySet:
        self._refresh_if_older_than(self._refresh_every)
        return KeySet([loaded.key for loaded in self._keys.values()])

    def jwks(self) -> dict:
        """The public JWK Set: the current key first, then retired keys still published."""
        self._refresh_if_older_than(self._refresh_every)
        if self._current is None and not self._keys:
            self.current()  # publish something before the first token is asked for
        ordered = sorted(self._keys.values(), key=lambda k: not k.current)
        return {"keys": [loaded.public for loaded in ordered]}

    def refresh(self) -> None:
        """Re-read the table now (tests, and the CLI after a rotation)."""
        self._refresh_if_older_than(0)

    # ----------------------------------------------------------------------- writing

    def rotate(self) -> str:
        """Retire the current key and start signing with a new one. Returns the new kid."""
        with tenancy.scoped_session(self._sessions, tenancy.NOBODY) as session:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
            session.execute(
                text("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL")
            )
            kid = self._insert_new(session)
        self._refresh_if_older_than(0)
        return kid

    def _create_if_missing(self) -> None:
        with tenancy.scoped_session(self._sessions, tenancy.NOBODY) as session:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
            exists = session.scalar(
                text("SELECT 1 FROM signing_keys WHERE retired_at IS NULL")
            )
            if not exists:
                self._insert_new(session)

    def _insert_new(self, session) -> str:
        kid = _new_kid()
        private = ec.generate_private_key(ec.SECP256R1())
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, der, kid.encode())
        session.execute(
            text("INSERT INTO signing_keys (kid, alg, private_key_enc) VALUES (:k, :a, :p)"),
            {"k": kid, "a": ALGORITHM, "p": sealed},
        )
        log.info("created access-token signing key %s", kid)
        return kid

    # ----------------------------------------------------------------------- cache

    def _refresh_if_older_than(self, seconds: float) -> None:
        if time.monotonic() - self._loaded_at < seconds:
            return
        with self._lock:
            if time.monotonic() - self._loaded_at < seconds:
                return  # another thread refreshed while we waited
            self._load()

    def _load(self) -> None:
        with tenancy.scoped_session(self._sessions, tenancy.NOBODY) as session:
            rows = session.execute(
                text(
                    "SELECT kid, private_key_enc, retired_at IS NULL AS current"
                    "  FROM signing_keys"
                    " WHERE alg = :alg"
                    "   AND (retired_at IS NULL OR retired_at > now() - :keep)"
                ),
                {"alg": ALGORITHM, "keep": self._publish_for},
            ).all()
        keys: dict[str, LoadedKey] = {}
        current = None
        for row in rows:
            cached = self._keys.get(row.kid)
            key = cached.key if cached else self._open(row.kid, bytes(row.private_key_enc))
            if key is None:
                continue
            loaded = LoadedKey(kid=row.kid, key=key, current=row.current)
            keys[row.kid] = loaded
            if row.current:
                current = loaded
        self._keys, self._current = keys, current
        self._loaded_at = time.monotonic()

    def _open(self, kid: str, sealed: bytes) -> ECKey | None:
        der = None
        for aead in (self._aead, *self._old_aeads):
            try:
                der = aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], kid.encode())
                break
            except Exception:  # noqa: S112 - wrong secret or a row we did not write: next one
                continue
        if der is None:
            log.warning("signing key %s cannot be decrypted with this secret; ignored", kid)
            return None
        return ECKey.import_key(
            serialization.load_der_private_key(der, password=None),
            parameters={"kid": kid, "use": "sig", "alg": ALGORITHM},
        )
