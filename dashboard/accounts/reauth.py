"""Confirming who you are again: step-up (password or a second factor) and the second factor
an org requires (a factor only). HTTP only."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for

from dashboard import tenancy
from dashboard.accounts import mfa, profile
from dashboard.accounts.forms import ReauthForm
from dashboard.accounts.relying_party import relying_party
from dashboard.accounts.routes import bp
from dashboard.accounts.signin import TooManyCodes, check_code
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.permissions import authenticated
from dashboard.redirects import safe_next


def back_to(value):
    """A safe local path from ``next``, or the dashboard."""
    return safe_next(value) or url_for("auth.index")


def confirm_page(next_path: str, *, purpose: str = "reauth", form=None, error=None):
    """The "Confirm it's you" page (step-up), or "Verify your second factor" (org policy)."""
    db = tenancy.request_session()
    principal = g.principal
    have = mfa.factors(db, principal.user_id, relying_party())
    has_password = purpose == "reauth" and profile.password_hash(db) is not None
    return render_template(
        "accounts/confirm.html", form=form or ReauthForm(formdata=None), purpose=purpose,
        next_path=next_path, factors=have, has_password=has_password, error=error,
    )


def proven(method: str | None, purpose: str, next_path: str):
    """Record the proof on this session, audit it in the active org, go back."""
    db = tenancy.request_session()
    profile.mark_proven(db, g.principal.session_id, method)
    membership = g.get("membership")
    if membership is not None:
        record_audit(db, org_id=membership.org_id, actor=request_actor(),
                     action="account.reauth" if purpose == "reauth" else "account.mfa_verified",
                     target=f"user:{g.principal.email}", details={"method": method or "password"})
    return redirect(next_path, 303)


@bp.route("/account/confirm", methods=["GET", "POST"])
@authenticated
def confirm():
    purpose = "mfa" if request.args.get("purpose") == "mfa" else "reauth"
    next_path = back_to(request.args.get("next"))
    form = ReauthForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return confirm_page(next_path, purpose=purpose, form=form), status
    db = tenancy.request_session()
    user_id = g.principal.user_id
    error = "That is not right. Try again."
    try:
        if form.code.data:
            method = check_code(db, user_id, form.code.data)
            if method is not None:
                return proven(method, purpose, next_path)
        elif form.password.data and purpose == "reauth":
            limit, window = current_app.config["MFA_MAX_FAILURES"], current_app.config[
                "LOGIN_FAILURE_WINDOW_SECONDS"]
            mfa.lock_person(db, user_id)
            if mfa.throttled(db, user_id, limit, window):
                raise TooManyCodes(max(1, window // 60))
            passwords = current_app.extensions["tenantdesk.passwords"]
            if passwords.verify(profile.password_hash(db), form.password.data):
                return proven(None, purpose, next_path)
            mfa.record_failure(db, user_id, request.remote_addr or "unknown")
            db.commit()
        else:
            error = "Enter your password or a code."
    except TooManyCodes as exc:
        return confirm_page(next_path, purpose=purpose, form=form, error=exc.message), 429
    return confirm_page(next_path, purpose=purpose, form=form, error=error), 401


@bp.route("/account/security-check")
@authenticated
def security_check():
    """Where an org that requires MFA sends a session without a second factor: verify one,
    or set one up first."""
    next_path = back_to(request.args.get("next"))
    have = mfa.factors(tenancy.request_session(), g.principal.user_id)
    if not have.any:
        membership = g.get("membership")
        flash(f"{membership.name if membership else 'Your organization'} requires two-factor "
              "authentication. Set up an authenticator app or a passkey to continue.", "info")
        return redirect(url_for("accounts.profile", next=next_path, _anchor="mfa"))
    return confirm_page(next_path, purpose="mfa")
