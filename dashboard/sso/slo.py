"""SAML Single Logout (HTTP-Redirect binding) on python3-saml: the LogoutRequest we send when
a person signs out of Tenantdesk, and the IdP's messages to our logout URL.

What python3-saml leaves to us, done here:
  * an IdP-initiated LogoutRequest must be signed by the connection's IdP certificate
    (``wantMessagesSigned`` for logout only: a GET that ends sessions must not be forgeable);
    the signature is checked over the query string exactly as the IdP sent it;
  * a LogoutResponse must answer the request id this browser stored;
  * the NameID is read only after the message validated.
"""

from __future__ import annotations

import dataclasses

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request

from dashboard.sso import saml


class LogoutRefused(Exception):
    """A logout message we do not act on; ``reason`` is safe to show."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail[:300]


@dataclasses.dataclass(frozen=True)
class LoggedOut:
    """What an IdP-initiated LogoutRequest asked for, and the URL of our answer."""

    name_id: str
    redirect_url: str


def _auth(idp: saml.IdpConfig, sp: saml.SpConfig, query_string: str, get_data: dict) -> \
        OneLogin_Saml2_Auth:
    data = saml.request_data(sp.slo_url)
    # The signature covers the query string as the IdP encoded it: never a re-encoded one.
    data.update(get_data=get_data, query_string=query_string, validate_signature_from_qs=True)
    settings = saml.settings(idp, sp)
    settings["security"]["wantMessagesSigned"] = True
    return OneLogin_Saml2_Auth(data, settings)


def begin(idp: saml.IdpConfig, sp: saml.SpConfig, name_id: str, name_id_format: str | None,
          session_index: str | None) -> tuple[str, str]:
    """(URL of the IdP's logout endpoint with our signed LogoutRequest, its request id)."""
    auth = OneLogin_Saml2_Auth(saml.request_data(sp.slo_url), saml.settings(idp, sp))
    url = auth.logout(name_id=name_id, name_id_format=name_id_format,
                      session_index=session_index, return_to="")
    return url, auth.get_last_request_id()


def handle(idp: saml.IdpConfig, sp: saml.SpConfig, query_string: str, get_data: dict,
           request_id: str | None) -> LoggedOut | None:
    """A message at our logout URL. A LogoutResponse (to ``request_id``) returns None; a
    LogoutRequest returns the NameID to sign out and where to send our LogoutResponse."""
    if not idp.slo_url:
        raise LogoutRefused("this connection has no single logout configured")
    if "SAMLResponse" not in get_data and "SAMLRequest" not in get_data:
        raise LogoutRefused("no logout message")
    if "SAMLResponse" in get_data and not request_id:
        raise LogoutRefused("this browser did not ask to sign out")
    auth = _auth(idp, sp, query_string, get_data)
    try:
        redirect_url = auth.process_slo(keep_local_session=True, request_id=request_id)
    except Exception as exc:  # malformed XML, bad base64, DTDs ...
        raise LogoutRefused("the logout message is not valid", type(exc).__name__) from exc
    if auth.get_errors():
        detail = auth.get_last_error_reason() or ", ".join(auth.get_errors())
        raise LogoutRefused("the logout message was refused (signature, issuer or request)",
                            detail)
    if "SAMLResponse" in get_data:
        return None
    name_id = OneLogin_Saml2_Logout_Request.get_nameid(auth.get_last_request_xml())
    return LoggedOut(name_id=name_id, redirect_url=redirect_url)
