"""SSO sign-in endpoints: start, SAML ACS and pick-up, OIDC callback, account linking, the
"test connection" result, and the page shown when SSO enforcement keeps a session out.
HTTP only: rules live in service.py.

The SAML ACS is a cross-site POST from the IdP, which carries no SameSite=Lax cookie: it
validates the response and parks the result server-side, then redirects (a top-level GET,
which does carry the cookie) to /sso/complete, where the browser that started the login
collects it. So a response never signs in a browser other than the one that asked for it.
"""

from __future__ import annotations

import base64
import time
import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from dashboard import tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.auth import service as auth_service
from dashboard.auth.principal import client_info, issue_token
from dashboard.hosts import current_host
from dashboard.permissions import public
from dashboard.redirects import safe_next
from dashboard.security import csrf
from dashboard.sso import crypto, forms, oidc, saml, service, sp_keys
from dashboard.sso import logout as sso_logout

bp = Blueprint("sso_login", __name__)

PENDING_KEY = "sso_pending"  # request ids this browser started (state / AuthnRequest ID)
LINK_KEY = "sso_link"
MAX_PENDING = 5
NOT_THIS_BROWSER = "this sign-in was not started in this browser; start again"


def net() -> oidc.Net:
    return oidc.Net(allow_private=bool(current_app.config["ALLOW_PRIVATE_METADATA_URLS"]),
                    timeout=float(current_app.config["SSO_FETCH_TIMEOUT"]),
                    cache_seconds=float(current_app.config["OIDC_CACHE_SECONDS"]))


def oidc_redirect_uri(connection_id) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/sso/oidc/{connection_id}/callback"


def _sp(connection_id, conn: service.LoginConnection | None = None) -> saml.SpConfig:
    want_encrypted = bool(conn and conn.config.get("want_encrypted_assertions"))
    return sp_keys.sp_config(tenancy.request_session(), _key(), current_app.config["BASE_URL"],
                             connection_id, want_encrypted)


def _key() -> bytes:
    return crypto.key_from_config(current_app.config)


# ----------------------------------------------------------------------------- start


def begin(connection_id: uuid.UUID, purpose: str = "login", *, user_id=None,
          next_path: str | None = None, login_hint: str | None = None) -> Response:
    """Send the browser to the connection's IdP (also used by the email-first login page and
    the connection test): a 303 for a GET, the continue page for a form POST."""
    db = tenancy.request_session()
    conn = service.load_connection(db, connection_id)
    host = current_host()
    if conn is None or (host is not None and conn.org_id != host.org_id):
        abort(404)  # on an org's own host, only that org's connection
    try:
        if conn.kind == "saml":
            url, request_id = saml.begin(conn.saml_idp(), _sp(conn.id))
            pending = None
        else:
            client = conn.oidc_client(_key(), oidc_redirect_uri(conn.id))
            provider = oidc.discover(client.issuer, net())
            url, pending = oidc.begin(client, provider, net(), login_hint)
            request_id = pending.state
    except (oidc.OidcError, service.LoginRefused) as exc:
        return _refused(conn.id, service.LoginRefused(
            "the identity provider cannot be reached", getattr(exc, "reason", str(exc))), 502)
    service.start_request(db, conn, request_id, purpose=purpose, user_id=user_id,
                          next_path=safe_next(next_path), pending=pending,
                          return_url=host.base_url if host is not None else None)
    session[PENDING_KEY] = [*session.get(PENDING_KEY, [])[-(MAX_PENDING - 1):], request_id]
    if request.method == "POST":
        # Browsers apply CSP form-action to the redirect that answers a form POST, and ours
        # is 'self': a 303 to the IdP would be blocked. A same-origin page that moves on by
        # meta refresh (which form-action does not govern) keeps the policy strict.
        return make_response(render_template("sso/continue.html", url=url), 200)
    return redirect(url, 303)


@bp.route("/sso/start/<uuid:connection_id>", methods=["POST"])
@public
def start(connection_id: uuid.UUID):
    return begin(connection_id, next_path=request.form.get("next"))


def _claim_pending(request_id: str) -> bool:
    """Was this login started by this browser? (Then forget it: single use.)"""
    pending = session.get(PENDING_KEY, [])
    if request_id not in pending:
        return False
    session[PENDING_KEY] = [p for p in pending if p != request_id]
    return True


# ----------------------------------------------------------------------------- SAML


@bp.route("/sso/saml/<uuid:connection_id>/metadata")
@public
def saml_metadata(connection_id: uuid.UUID):
    # Our metadata is a function of the URL alone (entity ID, ACS URL, the installation's SP
    # certificate), so it is served before the connection is saved: the IdP admin registers
    # Tenantdesk first, then pastes the IdP's metadata back. Nothing of any org is in it.
    conn = service.load_connection(tenancy.request_session(), connection_id)
    if conn is not None and conn.kind != "saml":
        abort(404)
    return Response(saml.sp_metadata(_sp(connection_id)),
                    mimetype="application/samlmetadata+xml")


@bp.route("/sso/saml/<uuid:connection_id>/acs", methods=["POST", "GET"])
@csrf.exempt  # the IdP posts here; the response's signature and our request id are the check
@public
def acs(connection_id: uuid.UUID):
    db = tenancy.request_session()
    conn = service.load_connection(db, connection_id)
    if conn is None or conn.kind != "saml":
        abort(404)
    if request.method == "GET":
        # HTTP-Redirect binding: a GET anyone can fire from another site (an <img>), so it
        # changes nothing and writes nothing unless it answers a login this browser started.
        try:
            value = base64.b64encode(saml.inflate_capped(request.args.get("SAMLResponse", "")))
        except saml.SamlRefused as exc:
            return _refused(None, service.LoginRefused(exc.reason))
        value = value.decode()
        if saml.peek_in_response_to(value) not in session.get(PENDING_KEY, []):
            return _refused(None, service.LoginRefused(NOT_THIS_BROWSER))
    else:
        value = request.form.get("SAMLResponse", "")
    try:
        request_id = service.accept_saml_response(db, conn, _sp(conn.id, conn), value)
    except saml.SamlRefused as exc:
        return _refused(conn.id, service.LoginRefused(exc.reason, exc.detail))
    except service.LoginRefused as exc:
        return _refused(conn.id, exc)
    # Back to the host the login started on: its session cookie (host-only) knows it.
    back = _elsewhere(conn, request_id) or ""
    return redirect(back + url_for("sso_login.complete", request_id=request_id), 303)


def _elsewhere(conn: service.LoginConnection, request_id: str) -> str | None:
    """The org host a login started on, when this request came in on another host."""
    url = service.return_url_of(tenancy.request_session(), conn, request_id)
    here = current_host()
    if url is None or (here is not None and here.base_url == url):
        return None
    return url


@bp.route("/sso/complete/<request_id>")
@public
def complete(request_id: str):
    db = tenancy.request_session()
    # A GET: nothing is taken unless this browser started the login (IdP-initiated results
    # are named by 32 random bytes only the ACS's redirect knows).
    if not request_id.startswith("idp_") and not _claim_pending(request_id):
        return _refused(None, service.LoginRefused(NOT_THIS_BROWSER))
    row = service.pick_up_saml_result(db, request_id[:128])
    if row is None:
        return _refused(None, service.LoginRefused("this sign-in has expired or was already "
                                                   "used; start again"))
    conn = service.load_connection(db, row.connection_id)
    if conn is None:
        abort(404)
    return _finish(conn, row, service.ExternalLogin.from_result(row.result))


# ----------------------------------------------------------------------------- OIDC


@bp.route("/sso/oidc/<uuid:connection_id>/callback")
@public
def oidc_callback(connection_id: uuid.UUID):
    db = tenancy.request_session()
    conn = service.load_connection(db, connection_id)
    if conn is None or conn.kind != "oidc":
        abort(404)
    state = request.args.get("state", "")[:128]
    back = _elsewhere(conn, state) if state and state not in session.get(PENDING_KEY, []) \
        else None
    if back:  # started on an org's host: its browser session is there
        return redirect(back + request.full_path, 303)
    if not state or not _claim_pending(state):  # a cross-site GET: write nothing
        return _refused(None, service.LoginRefused(NOT_THIS_BROWSER))
    row = service.take_oidc_request(db, conn, state)
    if row is None:
        return _refused(conn.id, service.LoginRefused("this sign-in has expired or was "
                                                      "already used; start again"))
    try:
        client = conn.oidc_client(_key(), oidc_redirect_uri(conn.id))
        provider = oidc.discover(client.issuer, net())
        claims = oidc.finish(client, provider, net(), request.args.to_dict(),
                             oidc.Pending(state, row.nonce, row.code_verifier))
    except oidc.OidcError as exc:
        return _refused(conn.id, service.LoginRefused(exc.reason))
    except service.LoginRefused as exc:
        return _refused(conn.id, exc)
    return _finish(conn, row, service.oidc_login(conn, provider.issuer, claims))


# ----------------------------------------------------------------------------- finishing


def _finish(conn: service.LoginConnection, row, login: service.ExternalLogin):
    if row.purpose == "test":
        return _show_test(conn, row, login)
    try:
        signed = service.sign_in(tenancy.request_session(), conn, login)
    except service.LinkRequired as exc:
        session[LINK_KEY] = {**exc.login.as_result(), "next": row.next_path,
                             "expires": time.time() + service.LINK_TTL.total_seconds()}
        return redirect(url_for("sso_login.link"), 303)
    except service.LoginRefused as exc:
        return _refused(conn.id, exc)
    return _open_session(conn, signed, login, row.next_path)


def _open_session(conn, signed: service.SignedIn, login: service.ExternalLogin,
                  next_path: str | None, linked: bool = False):
    db = tenancy.request_session()
    previous = g.get("principal")
    record = auth_service.open_session(db, signed.user, signed.org, client_info(),
                                       auth_service.SessionAuth("sso", conn.org_id))
    if previous is not None:
        auth_service.revoke_session(db, previous.session_id, "signed in again")
    actor = request_actor()
    actor = actor.__class__(label=signed.user.email, user_id=signed.user.id, ip=actor.ip,
                            user_agent=actor.user_agent)
    if signed.role_change:
        record_audit(db, org_id=conn.org_id, actor=actor, action="member.role_changed",
                     target=f"user:{signed.user.email}", before={"role": signed.role_change[0]},
                     after={"role": signed.role_change[1]}, details={"via": "sso groups"})
    record_audit(db, org_id=conn.org_id, actor=actor, action="sso.login",
                 target=f"user:{signed.user.email}",
                 details={"connection": str(conn.id), "kind": conn.kind,
                          "subject": login.subject[:200], "new_user": signed.created_user,
                          "new_member": signed.created_membership, "linked": linked})
    issue_token(record.id, signed.user.id, signed.org.org_id, signed.org.role, keep_csrf=False)
    sso_logout.remember_login(conn, login)
    g.principal = None
    return redirect(safe_next(next_path) or url_for("orgs.home", slug=signed.org.slug), 303)


def _show_test(conn, row, login: service.ExternalLogin):
    """Test connection: show what the IdP sent; change no membership."""
    principal, membership = g.get("principal"), g.get("membership")
    if principal is None or principal.user_id != row.user_id or membership is None \
            or membership.org_id != conn.org_id:
        return _refused(conn.id, service.LoginRefused(
            "a connection test must end in the session that started it"))
    record_audit(tenancy.request_session(), org_id=conn.org_id, actor=request_actor(),
                 action="sso.connection_tested", target=f"sso:{conn.id}",
                 details={"subject": login.subject[:200], "email": login.email})
    return render_template("sso/test_result.html", login=login, conn=conn,
                           role=service.mapped_role(conn, login.groups) or conn.default_role)


def _refused(connection_id, exc: service.LoginRefused, status: int = 400):
    """A clear page, no session; the reason (never a secret) goes to the org's audit log."""
    if connection_id is not None:
        service.record_failure(tenancy.request_session(), connection_id, exc.reason,
                               exc.detail, request.remote_addr or "unknown",
                               request.headers.get("User-Agent", ""))
    return render_template("sso/refused.html", reason=exc.reason), status


# ----------------------------------------------------------------------------- linking


@bp.route("/sso/link", methods=["GET", "POST"])
@public
def link():
    """The IdP named the email of an existing account: its owner proves it once with the
    account's password before this identity may sign in as them."""
    pending = session.get(LINK_KEY)
    if not pending or pending.get("expires", 0) < time.time():
        session.pop(LINK_KEY, None)
        return _refused(None, service.LoginRefused("this sign-in has expired; start again"))
    login = service.ExternalLogin.from_result(pending)
    form = forms.LinkForm()
    error, status = None, 200
    if form.validate_on_submit():
        db = tenancy.request_session()
        conn = service.load_connection(db, login.connection_id)
        if conn is None:
            abort(404)
        try:
            user = auth_service.authenticate(
                db, current_app.extensions["tenantdesk.passwords"], login.email,
                form.password.data, client_info(),
                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                window_seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"],
                max_failures_per_ip=current_app.config["LOGIN_MAX_FAILURES_PER_IP"],
            )
        except auth_service.LoginRefused as exc:
            error, status = exc.message, 401
        else:
            session.pop(LINK_KEY, None)
            try:
                signed = service.link_and_sign_in(db, conn, login, user)
            except service.LoginRefused as exc:
                return _refused(conn.id, exc)
            return _open_session(conn, signed, login, pending.get("next"), linked=True)
    elif request.method == "POST":
        status = 400
    return render_template("sso/link.html", form=form, email=login.email, error=error), status


# ----------------------------------------------------------------------------- enforcement


@bp.app_errorhandler(auth_service.EntryRefused)
def _entry_refused(exc: auth_service.EntryRefused):
    policy = exc.policy
    return render_template(
        "sso/required.html", org=exc.org, bound_elsewhere=exc.auth.method == "sso",
        connection_id=policy.connection_id if policy else None,
        next_path=f"/o/{exc.org.slug}/",
    ), 403
