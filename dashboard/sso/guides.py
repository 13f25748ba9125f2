"""Step-by-step set-up guides per identity provider, with this org's values filled in.

Written for the IT admin who registers Tenantdesk at their IdP before anything is saved here:
each step names the field on the IdP's side and the value to put in it. Kept as data so the
SSO page renders them and a test can check that every guide names our values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpValues:
    entity_id: str
    acs_url: str
    metadata_url: str
    redirect_uri: str
    slo_url: str = ""


@dataclass(frozen=True)
class Guide:
    key: str
    name: str
    kind: str  # "saml" or "oidc": which form finishes the set-up here
    steps: tuple[str, ...]


_SAML_FINISH = ("Back here, paste the IdP's metadata (or its metadata URL) under "
                "\"Set up SAML 2.0\" and save, then press \"Test connection\".")

_GUIDES = (
    ("okta", "Okta", "saml", (
        "In the Okta Admin Console open Applications → Applications → Create App "
        "Integration, choose SAML 2.0 and name the app.",
        "Single sign-on URL: {acs_url} (keep \"Use this for Recipient URL and Destination "
        "URL\" ticked).",
        "Audience URI (SP Entity ID): {entity_id}",
        "Name ID format: Persistent (or EmailAddress); Application username: Email.",
        "Attribute statements: email = user.email, name = user.displayName; add a group "
        "attribute statement named groups if roles should follow Okta groups.",
        "Assign the people or groups who may sign in, then copy the \"Metadata URL\" from "
        "the Sign On tab.",
        _SAML_FINISH,
    )),
    ("entra", "Microsoft Entra ID", "saml", (
        "In the Entra admin center open Enterprise applications → New application → Create "
        "your own application (non-gallery), then Single sign-on → SAML.",
        "Basic SAML Configuration: Identifier (Entity ID) {entity_id}; Reply URL (Assertion "
        "Consumer Service URL) {acs_url}; Logout URL {slo_url}.",
        "Attributes & Claims: keep the emailaddress and name claims; add a group claim if "
        "roles should follow Entra groups (Entra sends group object IDs unless you choose "
        "names).",
        "SAML Certificates: copy the App Federation Metadata Url (or download the "
        "Federation Metadata XML).",
        "Users and groups: assign who may sign in.",
        _SAML_FINISH,
    )),
    ("google", "Google Workspace", "saml", (
        "In the Google Admin console open Apps → Web and mobile apps → Add app → Add custom "
        "SAML app, and name it.",
        "Download the IdP metadata on the \"Google Identity Provider details\" step.",
        "Service provider details: ACS URL {acs_url}; Entity ID {entity_id}; tick Signed "
        "response; Name ID format EMAIL, Name ID Basic Information > Primary email.",
        "Attribute mapping: Primary email → email; First name → name (optional).",
        "Turn the app ON for the organizational units that may sign in (it can take a few "
        "minutes to apply).",
        _SAML_FINISH,
    )),
    ("onelogin", "OneLogin", "saml", (
        "In OneLogin open Applications → Add App and choose \"SAML Custom Connector "
        "(Advanced)\".",
        "Configuration: Audience (EntityID) {entity_id}; Recipient {acs_url}; ACS (Consumer) "
        "URL {acs_url}; ACS (Consumer) URL Validator: the ACS URL with dots and slashes "
        "escaped as a regular expression; Single Logout URL {slo_url}.",
        "SAML signature element: Assertion (or Both); SAML Signature Algorithm: SHA-256.",
        "Parameters: add email (Email) and, for roles, groups.",
        "More Actions → SAML Metadata downloads the metadata file.",
        _SAML_FINISH,
    )),
    ("jumpcloud", "JumpCloud", "saml", (
        "In the JumpCloud Admin Portal open SSO Applications → Add New Application → Custom "
        "Application, and choose SAML.",
        "SP Entity ID: {entity_id}; ACS URLs: {acs_url}; Login URL: leave empty.",
        "SAMLSubject NameID: email; Signature Algorithm: RSA-SHA256; Sign: Assertion.",
        "Attributes: email → email; enable the group attribute named groups for roles.",
        "Save, bind user groups, then Export Metadata.",
        _SAML_FINISH,
    )),
    ("saml", "Any SAML 2.0 identity provider", "saml", (
        "Register a SAML service provider with entity ID {entity_id} and assertion consumer "
        "service {acs_url} (HTTP-POST binding); or import our metadata from {metadata_url}.",
        "Sign the assertion (or the whole response) with RSA-SHA256; SHA-1 is refused.",
        "Send a persistent NameID, or an email address at one of this organization's "
        "verified domains in an attribute named email (see \"Identify returning people by\").",
        "Optional: single logout at {slo_url}; groups in an attribute named groups.",
        _SAML_FINISH,
    )),
    ("oidc", "Any OpenID Connect provider", "oidc", (
        "Create a confidential web client (authorization code flow) at your provider.",
        "Redirect (callback) URI: {redirect_uri}",
        "Scopes: openid email profile; client authentication: client_secret_basic; PKCE "
        "(S256) is always used.",
        "The provider must mark the email verified (email_verified: true) for new people to "
        "be added.",
        "Back here, enter the issuer URL, client ID and client secret under \"Set up "
        "OpenID Connect\" and save, then press \"Test connection\".",
    )),
)


def guides(values: SpValues) -> list[Guide]:
    """Every guide with ``values`` in place."""
    fields = {
        "entity_id": values.entity_id, "acs_url": values.acs_url,
        "metadata_url": values.metadata_url, "redirect_uri": values.redirect_uri,
        "slo_url": values.slo_url or "(not used)",
    }
    return [Guide(key, name, kind, tuple(step.format(**fields) for step in steps))
            for key, name, kind, steps in _GUIDES]
