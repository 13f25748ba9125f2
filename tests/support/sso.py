"""Driving SSO logins through the real endpoints, as a browser and an IdP would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from dashboard.sso import saml
from tests import factories
from tests.helpers import csrf_token
from tests.support.saml_idp import TestIdP, to_post


@dataclass
class SamlOrg:
    org: object
    people: dict
    conn: object
    domain: str
    idp: TestIdP

    def email(self, local: str = "alice") -> str:
        return f"{local}@{self.domain}"


def saml_org(idp: TestIdP | None = None, **connection) -> SamlOrg:
    """An org with an owner and an admin, a verified domain and a SAML connection."""
    idp = idp or TestIdP()
    org, people = factories.org_with_members(owner="owner", admin="admin", member="member")
    factories.put_on_plan(org, "enterprise")  # SSO is a feature of the plan
    domain = factories.SsoDomainFactory(org_id=org.id).domain
    config = saml.IdpConfig(idp.entity_id, idp.sso_url, (idp.cert_b64,)).as_config()
    conn = factories.SsoConnectionFactory(org_id=org.id, kind="saml", config=config,
                                          **connection)
    return SamlOrg(org, people, conn, domain, idp)


def start(client, connection_id, next_path: str | None = None) -> str:
    """Press "Continue with single sign-on"; returns where the browser is sent (the IdP)."""
    data = {"csrf_token": csrf_token(client, "/login")}
    if next_path:
        data["next"] = next_path
    return idp_redirect(client.post(f"/sso/start/{connection_id}", data=data))


_REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]*)">')
_CONTINUE = re.compile(r'<a href="([^"]*)" data-testid="sso-continue">Continue</a>')


def idp_redirect(response) -> str:
    """A form POST that starts SSO answers with a same-origin page (CSP form-action 'self'
    would block a redirect to the IdP): it moves on at once by meta refresh and shows a
    Continue link. Checks both name the same URL; returns it (the IdP's)."""
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body[:2000]
    assert "Location" not in response.headers
    refresh, link = _REFRESH.search(body), _CONTINUE.search(body)
    assert refresh and link, body[:2000]
    url = html.unescape(refresh.group(1))
    assert url == html.unescape(link.group(1)) and url.startswith(("http://", "https://"))
    return url


def post_to_acs(client, connection_id, saml_response, *, follow: bool = True):
    """The IdP's auto-submitted form: a cross-site POST that carries no cookie (so a fresh
    client posts it), then the browser follows the redirect with its own cookies."""
    value = saml_response if isinstance(saml_response, str) else to_post(saml_response)
    bare = client.application.test_client()
    response = bare.post(f"/sso/saml/{connection_id}/acs", data={"SAMLResponse": value})
    if follow and response.status_code == 303:
        location = urlsplit(response.headers["Location"])
        return client.get(location.path)
    return response


def saml_login(client, setup: SamlOrg, **answer):
    """A whole SP-initiated login; keyword arguments change what the IdP answers."""
    answer.setdefault("name_id", setup.email())
    url = start(client, setup.conn.id)
    return post_to_acs(client, setup.conn.id, setup.idp.answer(url, **answer))


def session_row(client):
    """The server-side session the client's cookie names, or None."""
    with client.session_transaction() as cookie:
        session_id = cookie.get("_user_id")
    if not session_id:
        return None
    return factories.execute(
        "SELECT user_id, org_id, auth_method, sso_org_id, revoked_at FROM user_sessions"
        " WHERE id = :id", id=session_id).one_or_none()


def audit_actions(org_id) -> list[tuple[str, dict]]:
    rows = factories.execute(
        "SELECT action, details FROM audit_events WHERE org_id = :o ORDER BY at", o=org_id)
    return [(r.action, r.details) for r in rows]
