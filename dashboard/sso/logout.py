"""SAML Single Logout endpoints. HTTP only: the protocol is in slo.py.

- Signing out of Tenantdesk after an SSO sign-in ends our session first, then sends the
  browser to the IdP with a signed LogoutRequest (so the IdP session ends too); the IdP's
  LogoutResponse comes back to ``/sso/saml/<id>/slo``.
- An IdP-initiated LogoutRequest (signed by the IdP, required) ends every Tenantdesk session
  that signed in through that connection as that NameID, then answers the IdP.
"""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import text

from dashboard import tenancy
from dashboard.permissions import public
from dashboard.sso import crypto, service, slo, sp_keys

bp = Blueprint("sso_logout", __name__)

SESSION_KEY = "sso_slo"  # what a SAML sign-in needs for a later logout (set by login.py)
PENDING_KEY = "sso_logout_request"


def remember_login(conn: service.LoginConnection, login: service.ExternalLogin) -> None:
    if conn.kind != "saml" or not conn.saml_idp().slo_url:
        return
    session[SESSION_KEY] = {"c": str(conn.id), "n": login.subject,
                            "f": login.claims.get("NameID format") or None,
                            "s": login.claims.get("SessionIndex") or None}


def _sp(connection_id):
    return sp_keys.sp_config(tenancy.request_session(),
                             crypto.key_from_config(current_app.config),
                             current_app.config["BASE_URL"], connection_id)


def begin(remembered: dict | None):
    """After our session ended: the IdP's logout, when the sign-in came through a SAML
    connection with Single Logout; None otherwise (the caller shows the sign-in page)."""
    if not remembered:
        return None
    try:
        connection_id = uuid.UUID(remembered["c"])
    except (KeyError, ValueError):
        return None
    conn = service.load_connection(tenancy.request_session(), connection_id)
    if conn is None or conn.kind != "saml" or not conn.saml_idp().slo_url:
        return None
    url, request_id = slo.begin(conn.saml_idp(), _sp(conn.id), remembered["n"],
                                remembered.get("f"), remembered.get("s"))
    session[PENDING_KEY] = request_id
    # Answering a form POST: a same-origin page moves on (CSP form-action, see login.py).
    return make_response(render_template("sso/continue.html", url=url), 200)


@bp.route("/sso/saml/<uuid:connection_id>/slo")
@public
def single_logout(connection_id: uuid.UUID):
    db = tenancy.request_session()
    conn = service.load_connection(db, connection_id)
    if conn is None or conn.kind != "saml":
        abort(404)
    idp = conn.saml_idp()
    try:
        done = slo.handle(idp, _sp(conn.id), request.query_string.decode("latin-1"),
                          request.args.to_dict(),
                          session.pop(PENDING_KEY, None))
    except slo.LogoutRefused as exc:
        return render_template("sso/refused.html", reason=exc.reason), 400
    if done is None:  # the IdP confirmed the logout we asked for
        flash("You are signed out, here and at your identity provider.", "info")
        return redirect(url_for("auth.login"), 303)
    db.scalar(text("SELECT app_sso_idp_logout(:c, :i, :s)"),
              {"c": conn.id, "i": idp.entity_id, "s": done.name_id})
    db.commit()
    return redirect(done.redirect_url, 303)
