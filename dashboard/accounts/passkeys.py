"""Passkeys (WebAuthn, the ``webauthn`` package): registration, second factor and passwordless
sign-in. No Flask here: the caller keeps the challenge (in the signed session cookie) and
passes the relying party it serves (id and origin).

- Registration: the person's user handle is their user id; resident keys are required (so
  the passkey can sign in without an email) and user verification preferred. Existing
  credentials are excluded so one authenticator is not registered twice.
- Sign-in: the credential id names the passkey through ``app_passkey_lookup`` (a definer
  function: before sign-in nobody's rows are readable). The signature is checked against that
  passkey's public key; the user handle, when the authenticator sends one, must be the
  passkey's owner; for the second-factor step the owner must be the person who passed the
  password. So a passkey of A never signs in as B. The signature counter must grow (clone
  detection) unless the authenticator keeps none (0).
- Relying parties: the installation's host and each org host (suffix host, verified custom
  domain) are relying parties of their own. Each passkey stores the RP ID it was made for;
  options offer only the passkeys of the RP being served, and a passkey of another RP is
  refused before its signature is checked. Rows from before the column (NULL) belong to the
  installation's RP.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from dashboard.models import Passkey

MAX_PASSKEYS = 20


class PasskeyError(Exception):
    """The browser's answer does not prove possession of a registered passkey."""


@dataclass(frozen=True)
class RelyingParty:
    id: str  # a registrable domain of the origin (not an IP address)
    name: str
    origin: str
    installation_id: str = ""  # the installation's RP ID: where NULL rows belong

    @property
    def legacy_id(self) -> str:
        return self.installation_id or self.id


def _works_on(rp: RelyingParty):
    """The passkeys a browser can use for ``rp`` (it binds each credential to its RP ID)."""
    return func.coalesce(Passkey.rp_id, rp.legacy_id) == rp.id


@dataclass(frozen=True)
class PasskeyView:
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    works_on: str  # the host name (RP ID) where the browser offers it
    here: bool  # works on the relying party of this request


def list_passkeys(session: Session, user_id: uuid.UUID, rp: RelyingParty) -> list[PasskeyView]:
    works_on = func.coalesce(Passkey.rp_id, rp.legacy_id)
    rows = session.execute(
        select(Passkey.id, Passkey.name, Passkey.created_at, Passkey.last_used_at, works_on)
        .where(Passkey.user_id == user_id).order_by(Passkey.created_at))
    return [PasskeyView(*row, here=row[4] == rp.id) for row in rows]


def registration_options(
    session: Session, rp: RelyingParty, user_id: uuid.UUID, email: str, name: str
) -> tuple[str, bytes]:
    """(options JSON for navigator.credentials.create, the challenge to keep)."""
    existing = session.scalars(select(Passkey.credential_id)
                               .where(Passkey.user_id == user_id, _works_on(rp)))
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_id=user_id.bytes, user_name=email,
        user_display_name=name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in existing],
    )
    return options_to_json(options), options.challenge


def register(
    session: Session, rp: RelyingParty, user_id: uuid.UUID, challenge: bytes,
    credential: dict, name: str,
) -> uuid.UUID:
    """Verify the attestation and store the passkey (public key only)."""
    count = session.scalar(select(func.count()).select_from(Passkey)
                           .where(Passkey.user_id == user_id))
    if count >= MAX_PASSKEYS:
        raise PasskeyError(f"You can register at most {MAX_PASSKEYS} passkeys.")
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin)
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError("The passkey could not be verified.") from exc
    if session.scalar(text("SELECT count(*) FROM app_passkey_lookup(:c)"),
                      {"c": verified.credential_id}):
        raise PasskeyError("This passkey is already registered.")
    transports = credential.get("response", {}).get("transports") or []
    passkey_id = uuid.uuid4()
    session.execute(insert(Passkey).values(
        user_id=user_id, id=passkey_id, credential_id=verified.credential_id,
        public_key=verified.credential_public_key, sign_count=verified.sign_count, rp_id=rp.id,
        name=(name.strip() or "Passkey")[:60],
        transports=[str(t)[:20] for t in transports if isinstance(t, str)][:8]))
    return passkey_id


def authentication_options(
    session: Session, rp: RelyingParty, user_id: uuid.UUID | None
) -> tuple[str, bytes]:
    """Options for navigator.credentials.get: the person's passkeys (second factor), or any
    discoverable passkey (passwordless, then user verification is required)."""
    allow = []
    if user_id is not None:
        allow = [PublicKeyCredentialDescriptor(id=c) for c in session.scalars(
            select(Passkey.credential_id).where(Passkey.user_id == user_id, _works_on(rp)))]
    options = generate_authentication_options(
        rp_id=rp.id, allow_credentials=allow,
        user_verification=(UserVerificationRequirement.PREFERRED if user_id
                           else UserVerificationRequirement.REQUIRED))
    return options_to_json(options), options.challenge


@dataclass(frozen=True)
class Verified:
    user_id: uuid.UUID
    passkey_id: uuid.UUID
    sign_count: int


def verify(
    session: Session, rp: RelyingParty, challenge: bytes, credential: dict,
    expected_user: uuid.UUID | None,
) -> Verified:
    """Whose passkey answered, checked end to end; PasskeyError otherwise."""
    try:
        raw_id = base64url_to_bytes(credential["rawId"])
        handle = (credential.get("response") or {}).get("userHandle")
    except (KeyError, TypeError, ValueError) as exc:
        raise PasskeyError("The passkey answer is malformed.") from exc
    row = session.execute(
        text("SELECT user_id, passkey_id, public_key, sign_count, rp_id"
             " FROM app_passkey_lookup(:c)"),
        {"c": raw_id}).one_or_none()
    if row is None:
        raise PasskeyError("This passkey is not registered here.")
    if (row.rp_id or rp.legacy_id) != rp.id:
        # Made for another host: browsers never offer it here; a hand-made answer is refused.
        raise PasskeyError("This passkey was made for another address and does not work here.")
    if expected_user is not None and row.user_id != expected_user:
        raise PasskeyError("This passkey belongs to another account.")
    try:
        if handle and base64url_to_bytes(handle) != row.user_id.bytes:
            raise PasskeyError("This passkey belongs to another account.")
        result = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=bytes(row.public_key),
            credential_current_sign_count=row.sign_count,
            require_user_verification=expected_user is None)
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError("The passkey could not be verified.") from exc
    return Verified(row.user_id, row.passkey_id, result.new_sign_count)


def record_use(session: Session, verified: Verified) -> None:
    """Under the owner's context: the new counter and the time of use."""
    session.execute(update(Passkey)
                    .where(Passkey.user_id == verified.user_id, Passkey.id == verified.passkey_id)
                    .values(sign_count=verified.sign_count, last_used_at=func.now()))


def remove(session: Session, user_id: uuid.UUID, passkey_id: uuid.UUID) -> str | None:
    """Delete one's own passkey; returns its name, or None when there is no such passkey."""
    return session.scalar(delete(Passkey).where(Passkey.user_id == user_id,
                                                Passkey.id == passkey_id)
                          .returning(Passkey.name))


def parse_json(body: bytes | str | None) -> dict:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, TypeError) as exc:
        raise PasskeyError("Send the passkey answer as JSON.") from exc
    if not isinstance(data, dict):
        raise PasskeyError("Send the passkey answer as JSON.")
    return data


def challenge_text(challenge: bytes) -> str:
    return bytes_to_base64url(challenge)


def challenge_bytes(value: str) -> bytes:
    return base64url_to_bytes(value)
