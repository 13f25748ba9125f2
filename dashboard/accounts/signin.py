"""Sign-in with a second factor. HTTP only: the rules are in mfa.py / passkeys.py.

After a correct password, a person with a factor is not signed in yet: this browser's signed
cookie remembers who passed the password (for 5 minutes) and the second-factor page asks for
a TOTP code, a recovery code, or a passkey. Only then is the session opened, remembering the
factor used (``user_sessions.mfa_method``) for the orgs that require MFA.
"""

from __future__ import annotations

import time
import uuid

from flask import current_app, redirect, render_template, request, session, url_for

from dashboard import tenancy
from dashboard.accounts import mfa, notices
from dashboard.accounts.forms import CodeForm
from dashboard.accounts.relying_party import relying_party
from dashboard.accounts.routes import bp
from dashboard.auth import service as auth_service
from dashboard.models import User
from dashboard.permissions import public
from dashboard.redirects import safe_next

PENDING = "mfa_pending"
PENDING_SECONDS = 300



def after_password(user: User):
    """The password was right: sign in now, or ask for the second factor first."""
    from dashboard.auth.routes import _sign_in

    db = tenancy.bind_request(auth_service.context_for(user.id, None))
    if not mfa.factors(db, user.id).any:
        return _sign_in(user)
    session[PENDING] = {"uid": str(user.id), "at": int(time.time())}
    return redirect(url_for("accounts.second_factor",
                            next=safe_next(request.args.get("next"))), 303)


def pending_user_id() -> uuid.UUID | None:
    pending = session.get(PENDING) or {}
    try:
        if time.time() - int(pending.get("at", 0)) <= PENDING_SECONDS:
            return uuid.UUID(pending["uid"])
    except (KeyError, ValueError, TypeError):
        pass
    return None


def finish(user_id: uuid.UUID, method: str):
    """The second factor is proven: open the session (SSO enforcement still applies)."""
    from dashboard.auth.routes import _sign_in

    session.pop(PENDING, None)
    db = tenancy.bind_request(auth_service.context_for(user_id, None))
    mfa.clear_failures(db, user_id)
    return _sign_in(db.get(User, user_id), mfa_method=method)


def _max_failures() -> tuple[int, int]:
    config = current_app.config
    return config["MFA_MAX_FAILURES"], config["LOGIN_FAILURE_WINDOW_SECONDS"]


def check_code(db, user_id: uuid.UUID, code: str) -> str | None:
    """'totp' or 'recovery' when ``code`` is good, else None (the failure is committed).
    Raises ``TooManyCodes`` past the failure limit."""
    limit, window = _max_failures()
    mfa.lock_person(db, user_id)
    if mfa.throttled(db, user_id, limit, window):
        raise TooManyCodes(max(1, window // 60))
    key = current_app.config["SECRET_KEY"]
    if mfa.verify_totp(db, user_id, key, code):
        return "totp"
    if mfa.use_recovery_code(db, key, code):
        return "recovery"
    mfa.record_failure(db, user_id, request.remote_addr or "unknown")
    db.commit()  # a wrong code counts even though the request fails
    return None


class TooManyCodes(Exception):
    def __init__(self, minutes: int) -> None:
        super().__init__(minutes)
        self.message = (f"Too many wrong codes. Try again in {minutes} minute"
                        f"{'s' if minutes != 1 else ''}.")


@bp.route("/login/verify", methods=["GET", "POST"])
@public
def second_factor():
    user_id = pending_user_id()
    if user_id is None:
        return redirect(url_for("auth.login", password=1))
    db = tenancy.bind_request(auth_service.context_for(user_id, None))
    have = mfa.factors(db, user_id, relying_party())
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            method = check_code(db, user_id, form.code.data)
        except TooManyCodes as exc:
            error, status = exc.message, 429
        else:
            if method is not None:
                if method == "recovery":
                    _recovery_code_used(db, user_id, have.recovery_left - 1)
                return finish(user_id, method)
            error, status = "That code is not right. Try the newest code from your app.", 401
    elif request.method == "POST":
        status = 400
    return render_template("accounts/second_factor.html", form=form, error=error,
                           factors=have), status


def _recovery_code_used(db, user_id: uuid.UUID, left: int) -> None:
    user = db.get(User, user_id)
    notices.send_with(db, [notices.security_notice(
        user.email, f"A recovery code was used to sign in ({left} left)")])
