"""A SAML identity provider a browser can visit: tests/support/saml_idp.py's TestIdP behind
HTTP on loopback, so an SSO sign-in runs as a person clicks it.

- ``GET /sso?SAMLRequest=...`` (the HTTP-Redirect binding the app sends the browser to): the
  IdP's own sign-in page, asking for an email (anyone the test names is "known" here).
- ``POST /sso``: a signed Response for that request, in the page every IdP shows after
  sign-in — a form that POSTs ``SAMLResponse`` to the app's ACS (cross-site, as in real life);
  the person presses "Continue".
"""

from __future__ import annotations

import uuid
from html import escape

from werkzeug.wrappers import Request, Response

from tests.live_server import LiveServer
from tests.support.saml_idp import (
    TestIdP,
    logout_response,
    read_authn_request,
    redirect_signature_valid,
    signed_redirect,
    to_post,
)

TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"""


class SamlIdpServer:
    def __init__(self) -> None:
        self.server = LiveServer()
        self.idp: TestIdP | None = None
        self.signed_in: list[str] = []  # emails the IdP vouched for, in order
        self.logged_out: list[str] = []  # NameIDs the SP asked to sign out
        # Like a real IdP once an admin registered the app: answer only requests from this
        # entity ID, and post to the ACS URL typed in here, never one the request names.
        self.registered: tuple[str, str] | None = None  # (SP entity ID, ACS URL)

        # Some IdPs accept only signed AuthnRequests: then this is the SP's certificate.
        self.require_signed_requests: str | None = None
        # Some IdPs send a new transient NameID at every sign-in (and the email separately).
        self.transient_name_ids = False

    def register_sp(self, entity_id: str, acs_url: str) -> None:
        self.registered = (entity_id, acs_url)

    def start(self) -> SamlIdpServer:
        def make(url: str):
            self.idp = TestIdP(sso_url=f"{url}/sso", slo_url=f"{url}/slo")
            return self._wsgi

        self.server.start(make)
        return self

    def stop(self) -> None:
        self.server.stop()

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        raw_url = f"{request.base_url}?{request.query_string.decode('latin-1')}"
        if request.path == "/slo":
            return self._logout(raw_url)
        if request.path != "/sso":
            return Response("not found", status=404)
        if request.method == "GET" and self.require_signed_requests and \
                not redirect_signature_valid(raw_url, self.require_signed_requests):
            return _html("Test IdP", "<p>This application must sign its requests.</p>")
        if request.method == "GET":
            return self._sign_in_page(request.url)
        return self._answer(request.form["request_url"], request.form["email"])

    def _sign_in_page(self, request_url: str) -> Response:
        read_authn_request(request_url)  # a malformed request fails here, loudly
        body = (
            '<form method="post" action="/sso">'
            f'<input type="hidden" name="request_url" value="{escape(request_url)}">'
            '<label for="idp-email">Work email</label>'
            '<input id="idp-email" name="email" type="email" autocomplete="username">'
            '<button type="submit">Sign in with Test IdP</button></form>'
        )
        return _html("Test IdP sign-in", body)

    def _answer(self, request_url: str, email: str) -> Response:
        request = read_authn_request(request_url)
        acs = request.get("AssertionConsumerServiceURL")
        extra = {}
        if self.registered:
            entity_id, acs = self.registered
            issuer = request.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer").text
            if issuer != entity_id:
                return _html("Test IdP", f"<p>Unknown application {escape(issuer)}.</p>")
            extra = {"audience": entity_id, "acs_url": acs}
        if self.transient_name_ids:
            extra.update(name_id=f"_{uuid.uuid4().hex}", name_id_format=TRANSIENT)
        else:
            extra.update(name_id=email)
        response = self.idp.answer(request_url,
                                   attributes={"email": email, "name": email.split("@")[0]},
                                   **extra)
        self.signed_in.append(email)
        body = (
            f'<p>Signed in as {escape(email)}.</p>'
            f'<form method="post" action="{escape(acs)}">'
            f'<input type="hidden" name="SAMLResponse" value="{to_post(response)}">'
            '<button type="submit">Continue to Tenantdesk</button></form>'
        )
        return _html("Test IdP", body)


    def _logout(self, raw_url: str) -> Response:
        """The SP's LogoutRequest: end the IdP session, offer the way back with a signed
        LogoutResponse to the SP's logout URL (from the request's Destination... our SLO)."""
        request = read_authn_request(raw_url)
        # Where the SP's metadata says its logout endpoint is (next to its entity ID).
        issuer = request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
        back = issuer.removesuffix("/metadata") + "/slo"
        answer = signed_redirect(back, "SAMLResponse",
                                 logout_response(self.idp.entity_id, back, request.get("ID")),
                                 self.idp.key_pem)
        self.logged_out.append(request.findtext(
            "{urn:oasis:names:tc:SAML:2.0:assertion}NameID"))
        body = (f'<p>You are signed out of Test IdP.</p><a href="{escape(answer)}">'
                "Return to Tenantdesk</a>")
        return _html("Test IdP", body)


def _html(title: str, body: str) -> Response:
    return Response(_PAGE.format(title=escape(title), body=body), mimetype="text/html")
