"""A test SAML identity provider: real Responses, signed with XML-DSig (RSA-SHA256,
exclusive c14n, enveloped) through the ``xmlsec`` binding. Test-only.

It answers an AuthnRequest the way a real IdP does: read the request ID out of the
HTTP-Redirect URL the app sent the browser to, build a Response for the SP's ACS and
audience, sign the assertion. Attack tests start from these real signed responses.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
import zlib
from urllib.parse import parse_qs, urlsplit

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def q(tag: str) -> str:
    prefix, local = tag.split(":")
    return f"{{{NS[prefix]}}}{local}"


def make_keypair(common_name: str = "test-idp", valid_days: int = 365) -> tuple[bytes, bytes]:
    """A self-signed RSA-2048 certificate: (key PEM, cert PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_authn_request(redirect_url: str) -> etree._Element:
    """The AuthnRequest inside an HTTP-Redirect URL, as the IdP reads it."""
    value = parse_qs(urlsplit(redirect_url).query)["SAMLRequest"][0]
    return etree.fromstring(zlib.decompress(base64.b64decode(value), -15))


class TestIdP:
    __test__ = False

    def __init__(self, entity_id: str | None = None, sso_url: str | None = None,
                 slo_url: str | None = None) -> None:
        tag = uuid.uuid4().hex[:8]
        self.entity_id = entity_id or f"https://idp-{tag}.example.test/metadata"
        self.sso_url = sso_url or f"https://idp-{tag}.example.test/sso"
        self.slo_url = slo_url or f"https://idp-{tag}.example.test/slo"
        self.key_pem, self.cert_pem = make_keypair()

    # --------------------------------------------------------------------- what an admin pastes
    @property
    def cert_b64(self) -> str:
        return "".join(self.cert_pem.decode().strip().splitlines()[1:-1])

    def metadata(self) -> str:
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{self.cert_b64}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{self.slo_url}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{self.sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    # --------------------------------------------------------------------- answering a request
    def answer(self, redirect_url: str, **kw) -> etree._Element:
        """A signed Response to the AuthnRequest in ``redirect_url`` (what the browser was
        sent to). Keyword arguments override what a faithful IdP would put in it."""
        request = read_authn_request(redirect_url)
        kw.setdefault("in_response_to", request.get("ID"))
        kw.setdefault("acs_url", request.get("AssertionConsumerServiceURL"))
        kw.setdefault("audience", request.find(q("saml:Issuer")).text)
        return self.sign_assertion(self.response(**kw))

    def response(
        self, *, acs_url: str, audience: str, in_response_to: str | None,
        name_id: str = "alice@acme.test", name_id_format: str = EMAIL_FORMAT,
        attributes: dict | None = None, destination: str | None = None,
        issuer: str | None = None, lifetime: dt.timedelta = dt.timedelta(minutes=5),
        now: dt.datetime | None = None,
    ) -> etree._Element:
        """An unsigned samlp:Response with one saml:Assertion."""
        now = now or dt.datetime.now(dt.UTC)
        later = _ts(now + lifetime)
        issuer = issuer or self.entity_id
        irt = {"InResponseTo": in_response_to} if in_response_to else {}
        response = etree.Element(
            q("samlp:Response"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
            ID="_" + uuid.uuid4().hex, Version="2.0", IssueInstant=_ts(now),
            Destination=destination or acs_url, **irt,
        )
        etree.SubElement(response, q("saml:Issuer")).text = issuer
        status = etree.SubElement(response, q("samlp:Status"))
        etree.SubElement(status, q("samlp:StatusCode"),
                         Value="urn:oasis:names:tc:SAML:2.0:status:Success")
        assertion = etree.SubElement(response, q("saml:Assertion"), ID="_" + uuid.uuid4().hex,
                                     Version="2.0", IssueInstant=_ts(now))
        etree.SubElement(assertion, q("saml:Issuer")).text = issuer
        subject = etree.SubElement(assertion, q("saml:Subject"))
        etree.SubElement(subject, q("saml:NameID"), Format=name_id_format).text = name_id
        confirmation = etree.SubElement(subject, q("saml:SubjectConfirmation"),
                                        Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
        etree.SubElement(confirmation, q("saml:SubjectConfirmationData"), NotOnOrAfter=later,
                         Recipient=acs_url, **irt)
        conditions = etree.SubElement(assertion, q("saml:Conditions"),
                                      NotBefore=_ts(now - dt.timedelta(minutes=1)),
                                      NotOnOrAfter=later)
        restriction = etree.SubElement(conditions, q("saml:AudienceRestriction"))
        etree.SubElement(restriction, q("saml:Audience")).text = audience
        statement = etree.SubElement(assertion, q("saml:AuthnStatement"), AuthnInstant=_ts(now),
                                     SessionIndex="_s" + uuid.uuid4().hex)
        context = etree.SubElement(statement, q("saml:AuthnContext"))
        etree.SubElement(context, q("saml:AuthnContextClassRef")).text = (
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        )
        if attributes:
            statement = etree.SubElement(assertion, q("saml:AttributeStatement"))
            for name, values in attributes.items():
                attribute = etree.SubElement(statement, q("saml:Attribute"), Name=name)
                for value in values if isinstance(values, list) else [values]:
                    etree.SubElement(attribute, q("saml:AttributeValue")).text = value
        return response

    def sign(self, element: etree._Element, key_pem: bytes | None = None,
             cert_pem: bytes | None = None, sha1: bool = False) -> None:
        """Enveloped signature right after <saml:Issuer>, where the schema wants it."""
        constants = xmlsec.constants
        signature = xmlsec.template.create(
            element, constants.TransformExclC14N,
            constants.TransformRsaSha1 if sha1 else constants.TransformRsaSha256, ns="ds",
        )
        element.find(q("saml:Issuer")).addnext(signature)
        reference = xmlsec.template.add_reference(
            signature, constants.TransformSha1 if sha1 else constants.TransformSha256,
            uri="#" + element.get("ID"),
        )
        xmlsec.template.add_transform(reference, constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, constants.TransformExclC14N)
        x509_data = xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
        xmlsec.template.x509_data_add_certificate(x509_data)
        key = xmlsec.Key.from_memory(key_pem or self.key_pem, constants.KeyDataFormatPem)
        key.load_cert_from_memory(cert_pem or self.cert_pem, constants.KeyDataFormatPem)
        context = xmlsec.SignatureContext()
        context.key = key
        context.register_id(element, "ID")
        context.sign(signature)

    def sign_assertion(self, response: etree._Element, **kw) -> etree._Element:
        self.sign(response.find(q("saml:Assertion")), **kw)
        return response


def to_post(xml: etree._Element | bytes) -> str:
    """The SAMLResponse form value (HTTP-POST binding)."""
    if not isinstance(xml, bytes):
        xml = etree.tostring(xml)
    return base64.b64encode(xml).decode()


# ----------------------------------------------------------------------------- encryption
XENC = "http://www.w3.org/2001/04/xmlenc#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def encrypt_assertion(response: etree._Element, sp_cert_b64: str) -> etree._Element:
    """Replace the (signed) assertion with an EncryptedAssertion for ``sp_cert_b64``, as an
    IdP does with the SP's encryption certificate: AES-256-CBC content, RSA-OAEP key
    transport (XML Encryption 1.0), written here with ``cryptography`` only."""
    from cryptography.hazmat.primitives import padding as block_padding
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    assertion = response.find(q("saml:Assertion"))
    plain = etree.tostring(assertion)
    key, iv = _random(32), _random(16)
    padder = block_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    cipher = iv + encryptor.update(padder.update(plain) + padder.finalize()) \
        + encryptor.finalize()
    cert = x509.load_der_x509_certificate(base64.b64decode(sp_cert_b64))
    wrapped = cert.public_key().encrypt(key, padding.OAEP(
        mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))  # noqa: S303

    def x(tag, parent=None, **attrs):
        ns = XENC if tag.startswith("xenc:") else NS[tag.split(":")[0]]
        name = f"{{{ns}}}{tag.split(':')[1]}"
        return etree.SubElement(parent, name, **attrs) if parent is not None \
            else etree.Element(name, nsmap={"xenc": XENC, "ds": NS["ds"]}, **attrs)

    encrypted = etree.Element(q("saml:EncryptedAssertion"))
    data = x("xenc:EncryptedData", Type=XENC + "Element")
    encrypted.append(data)
    x("xenc:EncryptionMethod", data, Algorithm=XENC + "aes256-cbc")
    key_info = x("ds:KeyInfo", data)
    encrypted_key = x("xenc:EncryptedKey", key_info)
    x("xenc:EncryptionMethod", encrypted_key, Algorithm=XENC + "rsa-oaep-mgf1p")
    x("xenc:CipherValue", x("xenc:CipherData", encrypted_key)).text = \
        base64.b64encode(wrapped).decode()
    x("xenc:CipherValue", x("xenc:CipherData", data)).text = base64.b64encode(cipher).decode()
    assertion.getparent().replace(assertion, encrypted)
    return response


def _random(size: int) -> bytes:
    import os

    return os.urandom(size)


# ----------------------------------------------------------------------------- redirect binding
def _deflated(xml: etree._Element) -> str:
    return base64.b64encode(zlib.compress(etree.tostring(xml))[2:-4]).decode()


def signed_redirect(url: str, param: str, xml: etree._Element, key_pem: bytes) -> str:
    """``url`` carrying ``xml`` as the HTTP-Redirect binding does, signed RSA-SHA256 over the
    query string (SAML bindings 3.4.4.1)."""
    from urllib.parse import quote_plus

    from cryptography.hazmat.primitives.asymmetric import padding

    signed = f"{param}={quote_plus(_deflated(xml))}&SigAlg={quote_plus(RSA_SHA256)}"
    key = serialization.load_pem_private_key(key_pem, password=None)
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{url}?{signed}&Signature={quote_plus(base64.b64encode(signature).decode())}"


def unsigned_redirect(url: str, param: str, xml: etree._Element) -> str:
    from urllib.parse import quote_plus

    return f"{url}?{param}={quote_plus(_deflated(xml))}"


def redirect_signature_valid(url: str, cert_b64: str) -> bool:
    """Does the HTTP-Redirect URL carry an RSA-SHA256 signature by ``cert_b64``? Checked the
    way a strict IdP does, over the query string exactly as sent."""
    from urllib.parse import unquote_plus

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding

    raw = dict(part.split("=", 1) for part in urlsplit(url).query.split("&"))
    if "Signature" not in raw or unquote_plus(raw.get("SigAlg", "")) != RSA_SHA256:
        return False
    message = next(p for p in ("SAMLRequest", "SAMLResponse") if p in raw)
    signed = "&".join(f"{k}={raw[k]}" for k in (message, "RelayState", "SigAlg") if k in raw)
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    try:
        cert.public_key().verify(base64.b64decode(unquote_plus(raw["Signature"])),
                                 signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def logout_request(issuer: str, destination: str, name_id: str,
                   session_index: str | None = None) -> etree._Element:
    now = dt.datetime.now(dt.UTC)
    request = etree.Element(q("samlp:LogoutRequest"),
                            nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                            ID="_" + uuid.uuid4().hex, Version="2.0", IssueInstant=_ts(now),
                            Destination=destination,
                            NotOnOrAfter=_ts(now + dt.timedelta(minutes=5)))
    etree.SubElement(request, q("saml:Issuer")).text = issuer
    etree.SubElement(request, q("saml:NameID"), Format=EMAIL_FORMAT).text = name_id
    if session_index:
        etree.SubElement(request, q("samlp:SessionIndex")).text = session_index
    return request


def logout_response(issuer: str, destination: str, in_response_to: str) -> etree._Element:
    response = etree.Element(q("samlp:LogoutResponse"),
                             nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                             ID="_" + uuid.uuid4().hex, Version="2.0",
                             IssueInstant=_ts(dt.datetime.now(dt.UTC)),
                             Destination=destination, InResponseTo=in_response_to)
    etree.SubElement(response, q("saml:Issuer")).text = issuer
    status = etree.SubElement(response, q("samlp:Status"))
    etree.SubElement(status, q("samlp:StatusCode"),
                     Value="urn:oasis:names:tc:SAML:2.0:status:Success")
    return response
