"""The installation's SAML service-provider key pair: signs AuthnRequests and LogoutRequests,
decrypts encrypted assertions, and is published (certificate only) in every SP metadata.

In the database (table ``saml_sp_keys``) for the same reason as the access-token keys: every
app server must sign with the same key and see a rotation at once. The private key is stored
sealed (AES-256-GCM, dashboard/sso/crypto.py, the key id as associated data).

Rotation without breaking any IdP, in two steps (``tenantdesk saml-sp-key rotate``):
1. a *next* key is created and published beside the active one (metadata lists both), so
   IdP admins can add it while the old one keeps working;
2. the next run activates it: it signs from then on, and the old key is retired but still
   tried for decryption for ``RETIRED_DECRYPTS_FOR``, for IdPs that still encrypt to it.
No Flask here: functions take the request's (or a CLI) session; the table is global.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.sso import crypto, saml

log = logging.getLogger(__name__)

VALIDITY = dt.timedelta(days=5 * 365)
RETIRED_DECRYPTS_FOR = dt.timedelta(days=30)
_LOCK_ID = 4_006_011  # pg_advisory_xact_lock key: one key creation at a time


@dataclass(frozen=True)
class SpKey:
    id: str
    certificate: str  # base64 DER, as SAML metadata carries it
    private_key_pem: str
    not_after: dt.datetime
    state: str  # "active", "next" or "retired"


def _new_pair() -> tuple[str, str, dt.datetime]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenantdesk SAML SP")])
    now = dt.datetime.now(dt.UTC)
    not_after = now + VALIDITY
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(not_after)
        .sign(private, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return base64.b64encode(der).decode(), pem, not_after


def _insert(db, sealing_key: bytes, *, active: bool) -> str:
    key_id = dt.date.today().strftime("%Y%m%d") + "-" + secrets.token_urlsafe(9)
    certificate, pem, not_after = _new_pair()
    db.execute(
        text("INSERT INTO saml_sp_keys (id, certificate, private_key_enc, not_after,"
             " activated_at) VALUES (:i, :c, :p, :n, CASE WHEN :a THEN now() END)"),
        {"i": key_id, "c": certificate, "p": crypto.seal(sealing_key, pem, key_id),
         "n": not_after, "a": active},
    )
    return key_id


def keys(db: Session, sealing_key: bytes, *, create: bool = True) -> list[SpKey]:
    """Active first, then the next key, then retired keys still tried for decryption; the
    active key is created on first use (by a web request, never by a background job). Rows
    that do not open with this server's key are skipped, never trusted."""
    rows = _rows(db)
    if create and not any(row.state == "active" for row in rows):
        # In a transaction of its own, committed at once: a request that fails later must
        # not take back a key it already published in metadata or signed a request with.
        with db.get_bind().engine.begin() as own:
            own.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
            if not any(row.state == "active" for row in _rows(own)):
                _insert(own, sealing_key, active=True)
        rows = _rows(db)
    found = []
    for row in rows:
        try:
            pem = crypto.open_sealed(sealing_key, bytes(row.private_key_enc), row.id)
        except crypto.SecretUnreadable:
            log.error("SAML SP key %s does not open with this server's SSO_ENCRYPTION_KEY /"
                      " SECRET_KEY: requests go unsigned and encrypted assertions are refused"
                      " until the key it was sealed with is back", row.id)
            continue
        found.append(SpKey(row.id, row.certificate, pem, row.not_after, row.state))
    return found


def _rows(db) -> list:
    return list(db.execute(text(
        "SELECT id, certificate, private_key_enc, not_after,"
        "       CASE WHEN retired_at IS NOT NULL THEN 'retired'"
        "            WHEN activated_at IS NULL THEN 'next' ELSE 'active' END AS state"
        "  FROM saml_sp_keys"
        " WHERE retired_at IS NULL OR retired_at > now() - :keep"
        " ORDER BY CASE WHEN retired_at IS NOT NULL THEN 2"
        "               WHEN activated_at IS NULL THEN 1 ELSE 0 END, created_at DESC"),
        {"keep": RETIRED_DECRYPTS_FOR}))


def rotate(db: Session, sealing_key: bytes) -> str:
    """Step 1 publishes a next key; step 2 (the next call) activates it. Returns what
    happened, for the operator."""
    db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
    keys(db, sealing_key)  # an installation with no key gets its active key first
    pending = db.scalar(text("SELECT id FROM saml_sp_keys WHERE activated_at IS NULL"
                             " AND retired_at IS NULL ORDER BY created_at DESC LIMIT 1"))
    if pending is None:
        key_id = _insert(db, sealing_key, active=False)
        return (f"Published the next SAML SP key {key_id} beside the active one. Ask IdP "
                "admins to refresh our metadata, then run this again to start using it.")
    db.execute(text("UPDATE saml_sp_keys SET retired_at = now()"
                    " WHERE activated_at IS NOT NULL AND retired_at IS NULL"))
    db.execute(text("UPDATE saml_sp_keys SET activated_at = now() WHERE id = :i"),
               {"i": pending})
    return (f"SAML SP key {pending} is active now; the previous key still decrypts for "
            f"{RETIRED_DECRYPTS_FOR.days} days.")


def certificate_expiry(cert_b64: str) -> dt.datetime:
    return x509.load_der_x509_certificate(base64.b64decode(cert_b64)).not_valid_after_utc


def sp_config(db: Session, sealing_key: bytes, base_url: str, connection_id,
              want_encrypted: bool = False, *, create: bool = True) -> saml.SpConfig:
    """The SP side of one connection with the installation's keys in place."""
    found = keys(db, sealing_key, create=create)
    active = next((k for k in found if k.state == "active"), None)
    upcoming = next((k for k in found if k.state == "next"), None)
    pairs = [saml.SpKeyPair(k.certificate, k.private_key_pem) for k in found
             if k.state != "next"]
    return saml.sp_for(
        base_url, connection_id,
        signing=pairs[0] if active else None,
        next_certificate=upcoming.certificate if upcoming else "",
        decrypting=tuple(pairs) + ((saml.SpKeyPair(upcoming.certificate,
                                                    upcoming.private_key_pem),)
                                   if upcoming else ()),
        want_encrypted=want_encrypted,
        valid_until=active.not_after.timestamp() if active else None,
    )
