"""SAML 2.0 service provider for one connection, on python3-saml in strict mode.

python3-saml checks the XML, the signature (against the certificate configured for the
connection, never one from the message), audience, destination, recipient, issuer and
validity times. What it leaves to the application is done here or in service.py:
  * InResponseTo must equal the AuthnRequest ID we stored (python3-saml skips the comparison
    when either side is missing), and an IdP-initiated response must carry none;
  * assertion IDs go to a replay cache until their NotOnOrAfter (service.py, a table);
  * every exception on hostile input (DTD, entity expansion, bad base64) becomes a refusal;
  * HTTP-Redirect payloads are inflated with a cap (a deflate bomb is refused in
    milliseconds).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

CLOCK_SKEW_SECONDS = 120
# python3-saml reads its tolerance from this constant (default 300 s); keep it small.
C.ALLOWED_CLOCK_DRIFT = CLOCK_SKEW_SECONDS

MAX_RESPONSE_BYTES = 256 * 1024  # a base64 SAMLResponse as posted
MAX_INFLATED_BYTES = 256 * 1024  # an HTTP-Redirect payload after inflating
MAX_METADATA_BYTES = 1024 * 1024


class SamlRefused(Exception):
    """A response that must not sign anyone in. ``reason`` is safe to show and to audit."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail[:300]


class SamlConfigError(ValueError):
    """Bad connection settings (metadata, certificate, URLs); the message is a form error."""


@dataclass(frozen=True)
class IdpConfig:
    entity_id: str
    sso_url: str
    certs: tuple[str, ...]  # base64 DER, no PEM armour
    slo_url: str = ""  # the IdP's Single Logout endpoint (HTTP-Redirect), when it has one

    def as_config(self) -> dict:
        return {"idp_entity_id": self.entity_id, "sso_url": self.sso_url,
                "certs": list(self.certs), "slo_url": self.slo_url}

    @classmethod
    def from_config(cls, config: dict) -> IdpConfig:
        return cls(config["idp_entity_id"], config["sso_url"], tuple(config["certs"]),
                   config.get("slo_url") or "")


@dataclass(frozen=True)
class SpKeyPair:
    certificate: str  # base64 DER
    private_key_pem: str


@dataclass(frozen=True)
class SpConfig:
    entity_id: str
    acs_url: str
    slo_url: str = ""
    signing: SpKeyPair | None = None  # signs AuthnRequests and logout messages
    next_certificate: str = ""  # published beside the current one during a rotation
    decrypting: tuple[SpKeyPair, ...] = ()  # tried in order on encrypted assertions
    want_encrypted: bool = False  # refuse assertions that are not encrypted
    valid_until: float | None = None  # metadata validUntil (the signing certificate's expiry)


@dataclass(frozen=True)
class Assertion:
    issuer: str
    name_id: str
    name_id_format: str | None
    assertion_id: str
    not_on_or_after: float
    attributes: dict[str, list[str]] = field(default_factory=dict)
    session_index: str | None = None  # the IdP's session, named again in a logout


METADATA_CACHE_SECONDS = 86400


def sp_for(base_url: str, connection_id, **keys) -> SpConfig:
    """One SP entity ID, ACS URL and logout URL per connection (so per org); ``keys`` are
    SpConfig's key fields (the installation's key pair, dashboard/sso/sp_keys.py)."""
    root = f"{base_url.rstrip('/')}/sso/saml/{connection_id}"
    return SpConfig(entity_id=f"{root}/metadata", acs_url=f"{root}/acs",
                    slo_url=f"{root}/slo", **keys)


def settings(idp: IdpConfig, sp: SpConfig) -> dict:
    certs = list(idp.certs)
    idp_settings = {
        "entityId": idp.entity_id,
        "singleSignOnService": {"url": idp.sso_url, "binding": C.BINDING_HTTP_REDIRECT},
    }
    if idp.slo_url:
        idp_settings["singleLogoutService"] = {"url": idp.slo_url,
                                               "binding": C.BINDING_HTTP_REDIRECT}
    if len(certs) == 1:
        idp_settings["x509cert"] = certs[0]
    elif certs:  # rollover: any of the configured certificates may sign
        idp_settings["x509certMulti"] = {"signing": certs}
    signing = sp.signing is not None
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp.entity_id,
            "assertionConsumerService": {"url": sp.acs_url, "binding": C.BINDING_HTTP_POST},
            "singleLogoutService": {"url": sp.slo_url or sp.acs_url,
                                    "binding": C.BINDING_HTTP_REDIRECT},
            "NameIDFormat": C.NAMEID_UNSPECIFIED,
            "x509cert": sp.signing.certificate if signing else "",
            "privateKey": sp.signing.private_key_pem if signing else "",
            "x509certNew": sp.next_certificate,
        },
        "idp": idp_settings,
        "security": {
            # Signed whenever the installation has a key: IdPs that require signed requests
            # accept them, the others ignore the signature.
            "authnRequestsSigned": signing,
            "logoutRequestSigned": signing,
            "logoutResponseSigned": signing,
            "wantAssertionsEncrypted": sp.want_encrypted,
            "metadataValidUntil": sp.valid_until,
            "metadataCacheDuration": METADATA_CACHE_SECONDS,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": False,  # most IdPs sign the assertion only
            "wantNameId": True,
            "wantAttributeStatement": False,
            "rejectDeprecatedAlgorithm": True,  # no rsa-sha1 / sha1 digests
            "requestedAuthnContext": False,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
        },
    }


def request_data(url: str, post: dict | None = None) -> dict:
    """What python3-saml wants instead of a framework request, from our PUBLIC URL (so the
    Destination/Recipient checks compare against the configured base URL, not a Host header).
    """
    parts = urlsplit(url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,  # port included; server_port is deprecated
        "script_name": parts.path,
        "get_data": {},
        "post_data": dict(post or {}),
    }


def begin(idp: IdpConfig, sp: SpConfig) -> tuple[str, str]:
    """(URL to send the browser to, AuthnRequest ID to store server-side)."""
    auth = OneLogin_Saml2_Auth(request_data(sp.acs_url), settings(idp, sp))
    url = auth.login(return_to="")
    return url, auth.get_last_request_id()


_REASONS = [  # python3-saml message fragment -> what we tell the user and the audit log
    ("not signed", "the assertion is not signed"),
    ("Signature validation failed", "the signature does not verify with the IdP certificate"),
    ("No Signature found", "the assertion is not signed"),
    ("must contain 1 assertion", "the response does not contain exactly one signed assertion"),
    ("Found an Assertion element not signed", "the response contains an unsigned assertion"),
    ("Deprecated signature algorithm", "the signature uses a deprecated algorithm"),
    ("Deprecated digest algorithm", "the signature uses a deprecated algorithm"),
    ("expired", "the assertion has expired"),
    ("NotOnOrAfter", "the assertion has expired"),
    ("NotBefore", "the assertion is not valid yet"),
    ("not a valid audience", "the assertion is for another service provider (audience)"),
    ("was received at", "the response is addressed to another URL (destination)"),
    ("Destination", "the response is addressed to another URL (destination)"),
    ("Recipient", "the assertion is for another URL (recipient)"),
    ("valid SubjectConfirmation", "the assertion is for another URL or has expired "
                                  "(subject confirmation)"),
    ("does not match the ID of the AuthNRequest", "the response answers another request"),
    ("InResponseTo", "the response answers another request"),
    ("Invalid issuer", "the response comes from another identity provider (issuer)"),
    ("status code", "the identity provider reported a failure"),
]


def _classify(message: str) -> str:
    for fragment, reason in _REASONS:
        if fragment.lower() in message.lower():
            return reason
    return "the response is not valid"


def validate(idp: IdpConfig, sp: SpConfig, saml_response: str, request_id: str | None) -> Assertion:
    """Validate a base64 SAMLResponse posted to ``sp``'s ACS. ``request_id`` is the stored
    AuthnRequest ID, or None for an IdP-initiated login (allowed by the caller)."""
    if not saml_response or len(saml_response) > MAX_RESPONSE_BYTES:
        raise SamlRefused("the response is missing or too large")
    # An encrypted assertion opens with the current key, or (during a rotation) with the
    # previous one an IdP may still encrypt to.
    if sp.want_encrypted and sp.signing is None and not sp.decrypting:
        raise SamlRefused("this connection requires encrypted assertions, and this server "
                          "cannot read its SAML key (SSO_ENCRYPTION_KEY changed?)")
    pairs = sp.decrypting or (sp.signing,)
    for number, pair in enumerate(pairs, start=1):
        last = number == len(pairs)
        auth = OneLogin_Saml2_Auth(
            request_data(sp.acs_url, {"SAMLResponse": saml_response}),
            settings(idp, dataclasses.replace(sp, signing=pair)),
        )
        try:
            auth.process_response(request_id=request_id)
        except Exception as exc:  # DTDForbidden, XMLSyntaxError, a key that does not open
            if not last:
                continue
            raise SamlRefused("the response is not well-formed XML or cannot be decrypted",
                              type(exc).__name__) from exc
        detail = auth.get_last_error_reason() or ", ".join(auth.get_errors())
        if last or "decrypt" not in detail.lower():
            break
    if auth.get_errors() or not auth.is_authenticated():
        raise SamlRefused(_classify(detail), detail)
    in_response_to = auth.get_last_response_in_response_to()
    if request_id is None and in_response_to:
        raise SamlRefused("the response answers a request this browser did not make")
    if request_id is not None and in_response_to != request_id:
        raise SamlRefused("the response answers another request", "missing InResponseTo")
    # Read only now, after the response validated.
    not_after = auth.get_last_assertion_not_on_or_after() or time.time() + 3600
    return Assertion(
        issuer=idp.entity_id,
        name_id=auth.get_nameid(),
        name_id_format=auth.get_nameid_format(),
        assertion_id=auth.get_last_assertion_id(),
        not_on_or_after=float(not_after),
        attributes={k: [str(v) for v in vs] for k, vs in auth.get_attributes().items()},
        session_index=auth.get_session_index(),
    )


def peek_in_response_to(saml_response: str) -> str | None:
    """The InResponseTo of a not-yet-validated response, to find our stored request (the
    signature check that follows makes it trustworthy). Hostile XML is refused here too."""
    if not saml_response or len(saml_response) > MAX_RESPONSE_BYTES:
        raise SamlRefused("the response is missing or too large")
    try:
        document = OneLogin_Saml2_XML.to_etree(base64.b64decode(saml_response, validate=True))
    except Exception as exc:  # DTDForbidden, XMLSyntaxError, binascii.Error, ...
        raise SamlRefused("the response is not well-formed XML", type(exc).__name__) from exc
    value = document.get("InResponseTo")
    return value or None


def inflate_capped(value: str, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """Decode an HTTP-Redirect binding payload (base64 of raw DEFLATE) without letting a
    deflate bomb inflate: python3-saml's own helper has no limit."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlRefused("the response is not valid base64") from exc
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise SamlRefused("the response is not valid DEFLATE data") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise SamlRefused("the response is too large")
    return out


def normalize_certificate(text: str) -> str:
    """PEM or bare base64 -> base64 DER of a parseable RSA/EC certificate."""
    body = "".join(
        line.strip() for line in text.strip().splitlines() if line.strip() and "-----" not in line
    )
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SamlConfigError("That is not an X.509 certificate (PEM or base64).") from exc
    if not isinstance(cert.public_key(), rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise SamlConfigError("The certificate must carry an RSA or EC key.")
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def check_url(url: str, *, allow_http: bool) -> str:
    url = url.strip()
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_http else {"https"}
    if parts.scheme not in schemes or not parts.netloc or len(url) > 1000:
        raise SamlConfigError("Enter the IdP's https:// sign-in URL.")
    return url


def idp_from_fields(entity_id: str, sso_url: str, cert: str, *, allow_http: bool) -> IdpConfig:
    entity_id = entity_id.strip()
    if not 1 <= len(entity_id) <= 1000:
        raise SamlConfigError("Enter the IdP's entity ID.")
    return IdpConfig(entity_id, check_url(sso_url, allow_http=allow_http),
                     (normalize_certificate(cert),))


def parse_metadata(xml: bytes | str, *, allow_http: bool) -> IdpConfig:
    """IdP metadata XML (pasted, uploaded or fetched) -> settings. python3-saml parses with
    a hardened lxml parser: no DTD, no entities, no network."""
    if len(xml) > MAX_METADATA_BYTES:
        raise SamlConfigError("The metadata is larger than 1 MiB.")
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(
            xml, required_sso_binding=C.BINDING_HTTP_REDIRECT
        )
    except Exception as exc:  # DTDForbidden, XMLSyntaxError, ...
        raise SamlConfigError(
            "That is not valid IdP metadata XML (DOCTYPE and entities are not allowed)."
        ) from exc
    idp = parsed.get("idp") or {}
    certs = idp.get("x509certMulti", {}).get("signing") or (
        [idp["x509cert"]] if idp.get("x509cert") else []
    )
    sso_url = (idp.get("singleSignOnService") or {}).get("url", "")
    if not idp.get("entityId") or not sso_url:
        raise SamlConfigError(
            "The metadata names no IdP entity ID or HTTP-Redirect sign-in URL."
        )
    if not certs:
        raise SamlConfigError("The metadata has no signing certificate.")
    slo = (idp.get("singleLogoutService") or {})
    slo_url = slo.get("url", "") if slo.get("binding", C.BINDING_HTTP_REDIRECT) \
        == C.BINDING_HTTP_REDIRECT else ""
    return IdpConfig(
        idp["entityId"].strip(),
        check_url(sso_url, allow_http=allow_http),
        tuple(normalize_certificate(c) for c in certs),
        check_url(slo_url, allow_http=allow_http) if slo_url else "",
    )


def sp_metadata(sp: SpConfig) -> str:
    """Our SP metadata for the IdP admin (no IdP settings needed): entity ID, ACS, logout
    URL and, with a key pair, the certificate for signing and for encryption (both the
    current and, during a rotation, the next one), valid while the certificate is."""
    placeholder = IdpConfig("https://idp.invalid/", "https://idp.invalid/sso", ())
    data = settings(placeholder, dataclasses.replace(sp, want_encrypted=sp.signing is not None))
    data["idp"] = {}
    metadata = OneLogin_Saml2_Settings(data, sp_validation_only=True).get_sp_metadata()
    return metadata.decode() if isinstance(metadata, bytes) else metadata


EXPIRY_WARNING_DAYS = 30  # the SSO page warns this long before a certificate expires


def certificate_summary(cert_b64: str, now: float | None = None) -> dict:
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    expires = cert.not_valid_after_utc
    days_left = int((expires.timestamp() - (now or time.time())) // 86400)
    return {
        "subject": cert.subject.rfc4514_string()[:200],
        "not_after": expires.date().isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(":")[:95],
        "days_left": days_left,
        "expiring": days_left < EXPIRY_WARNING_DAYS,
    }


