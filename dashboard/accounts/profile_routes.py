"""/account: name, email change, password change, sessions and second factors. HTTP only."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, g, redirect, render_template, request, url_for

from dashboard import tenancy
from dashboard.accounts import mfa, notices, time_zone
from dashboard.accounts import profile as own
from dashboard.accounts.forms import (
    ConfirmForm,
    EmailChangeForm,
    NameForm,
    PasskeyNameForm,
    PasswordChangeForm,
)
from dashboard.accounts.passkeys import list_passkeys
from dashboard.accounts.relying_party import relying_party
from dashboard.accounts.routes import _problem, bp
from dashboard.auth import service as auth_service
from dashboard.auth import sessions
from dashboard.auth.passwords import password_problem
from dashboard.permissions import authenticated
from dashboard.redirects import safe_next


def _render(status: int = 200, **forms):
    db = tenancy.request_session()
    principal = g.principal
    rp = relying_party()
    orgs = auth_service.user_orgs(db)
    idle = timedelta(days=current_app.config["SESSION_IDLE_DAYS"])
    live = sessions.active_sessions(db, principal.user_id, principal.session_id,
                                    {o.org_id: o.name for o in orgs}, idle)
    return render_template(
        "accounts/profile.html",
        name_form=forms.get("name_form") or NameForm(formdata=None, name=principal.name),
        email_form=forms.get("email_form") or EmailChangeForm(formdata=None),
        password_form=forms.get("password_form") or PasswordChangeForm(formdata=None),
        passkey_form=PasskeyNameForm(formdata=None),
        button=ConfirmForm(formdata=None),
        has_password=own.password_hash(db) is not None,
        pending_email=own.pending_email(db, principal.user_id),
        factors=mfa.factors(db, principal.user_id, rp),
        passkeys=list_passkeys(db, principal.user_id, rp),
        rp=rp,
        sessions=live[:10],
        session_count=len(live),
        next_path=safe_next(request.args.get("next")) or "",
        time_zones=time_zone.zone_choices(),
    ), status


@bp.route("/account")
@authenticated
def profile():
    return _render()


@bp.route("/account/name", methods=["POST"])
@authenticated
def change_name():
    form = NameForm()
    if not form.validate_on_submit():
        return _render(400, name_form=form)
    db = tenancy.request_session()
    try:
        own.set_name(db, form.name.data)
    except own.ProfileError as exc:
        form.name.errors.append(exc.message)
        return _render(400, name_form=form)
    db.commit()
    notices.audit_everywhere(g.principal.user_id, g.principal.email, "account.name_change",
                             {"before": g.principal.name, "after": form.name.data.strip()})
    flash("Your name is saved.", "success")
    return redirect(url_for("accounts.profile"), 303)


def _current_password_ok(form_field) -> bool:
    """True when the person has no password (SSO-only) or typed the right one."""
    db = tenancy.request_session()
    stored = own.password_hash(db)
    if stored is None:
        return True
    ok = current_app.extensions["tenantdesk.passwords"].verify(stored, form_field.data or "")
    if not ok:
        form_field.errors.append("That is not your current password.")
    return ok


@bp.route("/account/email", methods=["POST"])
@authenticated
def change_email():
    form = EmailChangeForm()
    if not form.validate_on_submit() or not _current_password_ok(form.email_password):
        return _render(400, email_form=form)
    db = tenancy.request_session()
    principal = g.principal
    try:
        address, token = own.request_email_change(
            db, principal.user_id, principal.email, form.new_email.data,
            ttl_hours=current_app.config["EMAIL_CHANGE_TTL_HOURS"],
            ip=request.remote_addr or "unknown")
    except own.ProfileError as exc:
        form.new_email.errors.append(exc.message)
        return _render(400, email_form=form)
    link = notices.absolute(url_for("accounts.confirm_email", token=token))
    notices.send_with(db, [
        notices.mail(address, "Confirm your new Tenantdesk email",
                     f"Hello {principal.name},\n\nConfirm that this address should be the "
                     f"email of your Tenantdesk account (now {principal.email}):\n\n{link}\n\n"
                     "Open the link while signed in. It works once and expires in "
                     f"{current_app.config['EMAIL_CHANGE_TTL_HOURS']} hours."),
        notices.mail(principal.email, "Tenantdesk: an email change was requested",
                     f"Someone signed in to your account asked to change its email to "
                     f"{address} {notices.where_from()}.\nNothing changes until the new "
                     "address is confirmed. If this was not you, reset your password now: "
                     f"{notices.absolute('/forgot-password')}"),
    ])
    flash(f"We sent a confirmation link to {address}. Your email changes once you open it.",
          "success")
    return redirect(url_for("accounts.profile"), 303)


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
@authenticated
def confirm_email(token: str):
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("accounts/confirm_email.html", form=form), (
            400 if request.method == "POST" else 200)
    db = tenancy.request_session()
    outcome, old, new = own.confirm_email(db, token)
    if outcome == "taken":
        flash("Another account took that address in the meantime.", "error")
        return redirect(url_for("accounts.profile"), 303)
    if outcome != "changed":
        return _problem(outcome, "email")
    notices.send_with(db, [notices.security_notice(old, f"Your email was changed to {new}"),
                           notices.security_notice(new, "This is now your account's email")])
    db.commit()
    notices.audit_everywhere(g.principal.user_id, new, "account.email_change",
                             {"before": old, "after": new})
    flash(f"Your email is now {new}.", "success")
    return redirect(url_for("accounts.profile"), 303)


@bp.route("/account/password", methods=["POST"])
@authenticated
def change_password():
    form = PasswordChangeForm()
    principal = g.principal
    if not form.validate_on_submit() or not _current_password_ok(form.current_password):
        return _render(400, password_form=form)
    problem = password_problem(form.new_password.data, (principal.email, principal.name))
    if problem:
        form.new_password.errors.append(problem)
        return _render(400, password_form=form)
    db = tenancy.request_session()
    new_hash = current_app.extensions["tenantdesk.passwords"].hash(form.new_password.data)
    ended = own.set_password(db, new_hash, principal.session_id)
    own.mark_proven(db, principal.session_id)
    notices.send_with(db, [notices.security_notice(principal.email, "Your password was changed")])
    db.commit()
    notices.audit_everywhere(principal.user_id, principal.email, "account.password_change",
                             {"other_sessions_ended": ended})
    flash("Your password is changed. Your other sessions were signed out.", "success")
    return redirect(url_for("accounts.profile"), 303)
