"""Setting up and removing second factors; passkey sign-in. HTTP only.

Adding a factor proves it at once (a first TOTP code, a passkey signature), so the session
counts as having shown it (orgs that require MFA). Removing one is a step-up action.
"""

from __future__ import annotations

import uuid

import segno
from flask import (
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from dashboard import tenancy
from dashboard.accounts import mfa, notices, passkeys, profile
from dashboard.accounts.forms import CodeForm, ConfirmForm
from dashboard.accounts.relying_party import relying_party
from dashboard.accounts.routes import bp
from dashboard.accounts.signin import finish, pending_user_id
from dashboard.accounts.stepup import step_up
from dashboard.auth import service as auth_service
from dashboard.auth.routes import NotMemberHere
from dashboard.permissions import authenticated, public
from dashboard.redirects import safe_next

CHALLENGE = "webauthn_challenge"


def _key() -> str:
    return current_app.config["SECRET_KEY"]


def _security_change(what: str, action: str, details: dict | None = None) -> None:
    """Mail the person and audit it in each of their orgs (after the change committed)."""
    db = tenancy.request_session()
    principal = g.principal
    notices.send_with(db, [notices.security_notice(principal.email, what)])
    db.commit()
    notices.audit_everywhere(principal.user_id, principal.email, action, details)


def _back_after_setup(default: str):
    target = request.args.get("next") or request.form.get("next")
    return redirect(safe_next(target) or default, 303)


# ------------------------------------------------------------------------ TOTP


@bp.route("/account/mfa/totp", methods=["GET", "POST"])
@authenticated
def totp_setup():
    db = tenancy.request_session()
    principal = g.principal
    have = mfa.factors(db, principal.user_id)
    if have.totp:
        flash("Your authenticator app is already set up.", "info")
        return redirect(url_for("accounts.profile", _anchor="mfa"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        if mfa.confirm_totp(db, principal.user_id, _key(), form.code.data):
            codes = (mfa.new_recovery_codes(db, principal.user_id, _key())
                     if not have.recovery_left else None)
            profile.mark_proven(db, principal.session_id, "totp")
            _security_change("An authenticator app was added", "account.mfa_added",
                             {"factor": "totp"})
            if codes:
                return render_template("accounts/recovery_codes.html", codes=codes,
                                       next_path=safe_next(request.args.get("next")) or "")
            return _back_after_setup(url_for("accounts.profile", _anchor="mfa"))
        form.code.errors.append("That code is not right. Check the time on your phone and "
                                "enter the newest code.")
        status = 400
    elif request.method == "POST":
        status = 400
    secret = mfa.pending_secret(db, principal.user_id, _key())
    if secret is None or request.method == "GET" and request.args.get("new") == "1":
        secret = mfa.start_totp(db, principal.user_id, _key())
    uri = mfa.provisioning_uri(secret, principal.email)
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your app")
    qr = Markup(svg)  # noqa: S704 - segno draws modules only; no input text is embedded
    return render_template("accounts/totp_setup.html", form=form, qr=qr, secret=secret,
                           next_path=safe_next(request.args.get("next")) or ""), status


@bp.route("/account/mfa/totp/disable", methods=["POST"])
@authenticated
@step_up
def totp_disable():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db = tenancy.request_session()
    user_id = g.principal.user_id
    if not mfa.remove_totp(db, user_id):
        abort(404)
    if not mfa.has_passkeys(db, user_id):
        mfa.drop_recovery_codes(db, user_id)
    _security_change("Your authenticator app was removed", "account.mfa_removed",
                     {"factor": "totp"})
    flash("Your authenticator app is removed.", "success")
    return redirect(url_for("accounts.profile", _anchor="mfa"), 303)


@bp.route("/account/mfa/recovery-codes", methods=["POST"])
@authenticated
@step_up
def recovery_codes():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db = tenancy.request_session()
    if not mfa.factors(db, g.principal.user_id).any:
        abort(404)
    codes = mfa.new_recovery_codes(db, g.principal.user_id, _key())
    _security_change("New recovery codes were made (the old ones stopped working)",
                     "account.recovery_codes_regenerated")
    return render_template("accounts/recovery_codes.html", codes=codes, next_path="")


# ------------------------------------------------------------------------ passkeys


def _keep_challenge(purpose: str, challenge: bytes) -> None:
    session[CHALLENGE] = {"purpose": purpose, "value": passkeys.challenge_text(challenge)}


def _take_challenge(purpose: str) -> bytes:
    """The challenge this browser was given for ``purpose`` (single use)."""
    kept = session.pop(CHALLENGE, None) or {}
    if kept.get("purpose") != purpose or not kept.get("value"):
        raise passkeys.PasskeyError("Start again: this passkey request expired.")
    return passkeys.challenge_bytes(kept["value"])


def _json_error(message: str, status: int = 400):
    response = jsonify({"error": {"code": "passkey_refused", "message": message}})
    response.status_code = status
    return response  # a Response (not a tuple): abort() takes it as is


@bp.route("/account/passkeys/options", methods=["POST"])
@authenticated
def passkey_register_options():
    principal = g.principal
    options, challenge = passkeys.registration_options(
        tenancy.request_session(), relying_party(), principal.user_id, principal.email,
        principal.name)
    _keep_challenge("register", challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/account/passkeys", methods=["POST"])
@authenticated
def passkey_register():
    db = tenancy.request_session()
    try:
        data = passkeys.parse_json(request.get_data())
        credential = data.get("credential")
        if not isinstance(credential, dict):
            raise passkeys.PasskeyError("Send the passkey answer as JSON.")
        passkeys.register(db, relying_party(), g.principal.user_id,
                          _take_challenge("register"), credential, str(data.get("name") or ""))
    except passkeys.PasskeyError as exc:
        return _json_error(str(exc))
    profile.mark_proven(db, g.principal.session_id, "passkey")
    _security_change("A passkey was added", "account.mfa_added", {"factor": "passkey"})
    flash("Your passkey is saved. You can use it to sign in.", "success")
    target = request.args.get("next")
    return jsonify({"redirect": safe_next(target) or url_for("accounts.profile",
                                                               _anchor="mfa")})


@bp.route("/account/passkeys/<uuid:passkey_id>/delete", methods=["POST"])
@authenticated
@step_up
def passkey_delete(passkey_id: uuid.UUID):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db = tenancy.request_session()
    user_id = g.principal.user_id
    name = passkeys.remove(db, user_id, passkey_id)
    if name is None:
        abort(404)  # not yours or gone: alike
    if not mfa.factors(db, user_id).any:
        mfa.drop_recovery_codes(db, user_id)
    _security_change(f"The passkey \u201c{name}\u201d was removed", "account.mfa_removed",
                     {"factor": "passkey", "name": name})
    flash("The passkey is removed.", "success")
    return redirect(url_for("accounts.profile", _anchor="mfa"), 303)


# ------------------------------------------------------------------------ passkey sign-in
# step=login: passwordless (any discoverable passkey, user verification required);
# step=mfa: the second factor of the person who just passed the password;
# step=reauth: the signed-in person again (step-up, or the second factor an org requires).


def _step_user(step: str) -> uuid.UUID | None:
    if step == "mfa":
        user_id = pending_user_id()
        if user_id is None:
            abort(_json_error("Sign in with your password first.", 401))
        return user_id
    if step == "reauth":
        if g.get("principal") is None:
            abort(_json_error("Sign in first.", 401))
        return g.principal.user_id
    if step != "login":
        abort(404)
    return None


@bp.route("/login/passkey/<step>/options", methods=["POST"])
@public
def passkey_login_options(step: str):
    user_id = _step_user(step)
    db = (tenancy.bind_request(auth_service.context_for(user_id, None)) if step == "mfa"
          else tenancy.request_session())
    options, challenge = passkeys.authentication_options(db, relying_party(), user_id)
    _keep_challenge(f"auth:{step}", challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/login/passkey/<step>", methods=["POST"])
@public
def passkey_login_finish(step: str):
    user_id = _step_user(step)
    db = tenancy.request_session()
    try:
        credential = passkeys.parse_json(request.get_data())
        verified = passkeys.verify(db, relying_party(), _take_challenge(f"auth:{step}"),
                                   credential, user_id)
    except passkeys.PasskeyError as exc:
        return _json_error(str(exc), 401)
    if step == "reauth":  # the request's own (person, org) context
        from dashboard.accounts.reauth import back_to, proven

        passkeys.record_use(db, verified)
        purpose = "mfa" if request.args.get("purpose") == "mfa" else "reauth"
        response = proven("passkey", purpose, back_to(request.args.get("next")))
        return jsonify({"redirect": response.location})
    db = tenancy.bind_request(auth_service.context_for(verified.user_id, None))
    passkeys.record_use(db, verified)
    try:
        response = finish(verified.user_id, "passkey")
    except NotMemberHere as exc:  # a passkey of this host, its owner no longer a member
        return _json_error(f"This account is not a member of {exc.org_name}.", 403)
    except auth_service.EntryRefused as exc:
        return _json_error(f"{exc.org.name} requires single sign-on: use its sign-in button.",
                           403)
    return jsonify({"redirect": response.location})
