"""Second factors: TOTP (pyotp) and single-use recovery codes. No Flask here.

- The TOTP secret is sealed with ``secretbox`` (Fernet, key derived from SECRET_KEY) before it
  reaches ``mfa_totp``; a code is accepted for the current 30-second step or one step either
  side, and never twice (``last_used_step``), so a code seen over a shoulder cannot be reused.
- Recovery codes: 10 random codes of 50 bits, shown once; only an HMAC of each is stored, and
  using one marks it used in the same UPDATE that finds it (single use, even under races).
- Wrong codes count in ``mfa_failures`` (person-scoped); past ``max_failures`` in the window
  every code is refused (brute force of 10^6 codes throttled to a handful per window). The
  count is taken under a lock on the person's ``mfa_totp`` row, so parallel guesses queue.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from dashboard import secretbox
from dashboard.accounts.passkeys import RelyingParty
from dashboard.models import MfaFailure, Passkey, RecoveryCode, TotpFactor

ISSUER = "Tenantdesk"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


@dataclass(frozen=True)
class Factors:
    totp: bool
    passkeys: int
    recovery_left: int
    passkeys_here: int = 0  # usable on the relying party of the request (see factors())
    passkey_hosts: tuple[str, ...] = ()  # where the person's passkeys work (with ``rp``)

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0


def factors(session: Session, user_id: uuid.UUID,
            rp: RelyingParty | None = None) -> Factors:
    """The person's factors; ``passkeys_here`` counts those a browser can use for ``rp``
    (each passkey is bound to the host it was made on), or all of them without ``rp``."""
    row = session.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = :u"
            "               AND confirmed_at IS NOT NULL) AS totp,"
            " (SELECT count(*) FROM passkeys WHERE user_id = :u) AS passkeys,"
            " (SELECT count(*) FROM passkeys WHERE user_id = :u"
            "  AND coalesce(rp_id, :legacy) = :rp) AS passkeys_here,"
            " (SELECT array_agg(DISTINCT coalesce(rp_id, :legacy)) FROM passkeys"
            "  WHERE user_id = :u) AS passkey_hosts,"
            " (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = :u"
            "  AND used_at IS NULL) AS recovery_left"
        ),
        {"u": user_id, "rp": rp.id if rp else None, "legacy": rp.legacy_id if rp else None},
    ).one()
    return Factors(row.totp, row.passkeys, row.recovery_left,
                   row.passkeys_here if rp else row.passkeys,
                   tuple(sorted(row.passkey_hosts or ())) if rp else ())


# ------------------------------------------------------------------------ TOTP


def _seal(key: str, secret: str) -> str:
    return secretbox.encrypt(key, "totp-secret", secret.encode())


def _open(key: str, sealed: str) -> str | None:
    plain = secretbox.decrypt(key, "totp-secret", sealed)
    return plain.decode() if plain else None


def start_totp(session: Session, user_id: uuid.UUID, key: str) -> str:
    """A new (unconfirmed) secret; replaces an unfinished enrolment, never a confirmed one."""
    session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id,
                                             TotpFactor.confirmed_at.is_(None)))
    secret = pyotp.random_base32()
    session.add(TotpFactor(user_id=user_id, secret_enc=_seal(key, secret)))
    session.flush()
    return secret


def pending_secret(session: Session, user_id: uuid.UUID, key: str) -> str | None:
    row = session.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id,
                                                  TotpFactor.confirmed_at.is_(None)))
    return _open(key, row.secret_enc) if row else None


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def confirm_totp(session: Session, user_id: uuid.UUID, key: str, code: str) -> bool:
    """Finish enrolment with a first code from the app."""
    row = session.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id,
                                                  TotpFactor.confirmed_at.is_(None))
                         .with_for_update())
    secret = _open(key, row.secret_enc) if row else None
    step = _matching_step(secret, code, datetime.now(UTC)) if secret else None
    if step is None:
        return False
    row.confirmed_at = func.now()
    row.last_used_step = step
    session.flush()
    return True


def verify_totp(session: Session, user_id: uuid.UUID, key: str, code: str) -> bool:
    """A code of the confirmed authenticator, each step accepted once."""
    row = session.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id,
                                                  TotpFactor.confirmed_at.is_not(None))
                         .with_for_update())
    secret = _open(key, row.secret_enc) if row else None
    step = _matching_step(secret, code, datetime.now(UTC)) if secret else None
    if step is None or (row.last_used_step is not None and step <= row.last_used_step):
        return False
    row.last_used_step = step
    session.flush()
    return True


def remove_totp(session: Session, user_id: uuid.UUID) -> bool:
    return bool(session.execute(
        delete(TotpFactor).where(TotpFactor.user_id == user_id)).rowcount)


# ------------------------------------------------------------------------ recovery codes


def _code_hash(key: str, code: str) -> bytes:
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return secretbox.keyed_hash(key, "mfa-recovery", normal)


def new_recovery_codes(session: Session, user_id: uuid.UUID, key: str) -> list[str]:
    """Ten fresh codes (the old ones stop working). Shown once; stored as HMACs."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    # Core INSERT without RETURNING: the app role may not read code_hash back.
    session.execute(insert(RecoveryCode).values(
        [{"user_id": user_id, "code_hash": _code_hash(key, c)} for c in codes]))
    return codes


def use_recovery_code(session: Session, key: str, code: str) -> bool:
    """Spend a recovery code of the context's person (app_mfa_use_recovery_code: single use
    in one UPDATE, the hashes never leave the database)."""
    if not any(ch.isalpha() for ch in code):
        return False  # a TOTP code, not a recovery code
    return bool(session.scalar(text("SELECT app_mfa_use_recovery_code(:h)"),
                               {"h": _code_hash(key, code)}))


def drop_recovery_codes(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def has_passkeys(session: Session, user_id: uuid.UUID) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Passkey)
                               .where(Passkey.user_id == user_id)))


# ------------------------------------------------------------------------ throttling


def lock_person(session: Session, user_id: uuid.UUID) -> None:
    """Serialise second-factor checks of one person (their TOTP row, when they have one)."""
    session.execute(select(TotpFactor.user_id).where(TotpFactor.user_id == user_id)
                    .with_for_update())


def throttled(session: Session, user_id: uuid.UUID, max_failures: int, window: int) -> bool:
    since = datetime.now(UTC) - timedelta(seconds=window)
    failures = session.scalar(select(func.count()).select_from(MfaFailure).where(
        MfaFailure.user_id == user_id, MfaFailure.at > since))
    return failures >= max_failures


def record_failure(session: Session, user_id: uuid.UUID, ip: str) -> None:
    """Count a wrong code; the caller commits it even though the request fails."""
    session.execute(insert(MfaFailure).values(user_id=user_id, ip=ip[:64]))


def clear_failures(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(MfaFailure).where(MfaFailure.user_id == user_id))
