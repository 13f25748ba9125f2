"""Forgot password, reset, open sign-up with verification, joining by domain. HTTP only."""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from dashboard import tenancy
from dashboard.accounts import links, notices
from dashboard.accounts.background import background
from dashboard.accounts.forms import ConfirmForm, ForgotPasswordForm, NewPasswordForm, SignupForm
from dashboard.audit.service import record_audit
from dashboard.auth import service as auth_service
from dashboard.auth.passwords import password_problem
from dashboard.auth.principal import client_info, issue_token
from dashboard.auth.switching import switch_to
from dashboard.hosts import current_host
from dashboard.hosts import mail as hosts_mail
from dashboard.models import User
from dashboard.permissions import authenticated, public

bp = Blueprint("accounts", __name__)


def _passwords():
    return current_app.extensions["tenantdesk.passwords"]


def _problem(outcome: str, kind: str):
    status, headline = links.PROBLEMS.get(outcome, links.PROBLEMS["not_found"])
    return render_template("accounts/link_problem.html", outcome=outcome, headline=headline,
                           kind=kind), status


def signup_open() -> bool:
    return current_app.config.get("SIGNUP") == "open"


# ------------------------------------------------------------------------ password reset


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        # The same page at once for every address: the look-up and the mail happen after
        # the response (accounts/background.py), so neither answer nor timing tells.
        # The host's brand and address: a reset asked for at acme.<suffix> links back there.
        background().submit(_send_reset_link, form.email.data.strip(),
                            request.remote_addr or "unknown", hosts_mail.for_request())
        return render_template("accounts/forgot_sent.html")
    return render_template("accounts/forgot.html", form=form), (
        400 if request.method == "POST" else 200)


def _send_reset_link(email: str, ip: str, brand: hosts_mail.MailBrand | None = None) -> None:
    brand = brand or hosts_mail.installation()
    config = current_app.config
    factory = current_app.extensions["tenantdesk.db"].sessionmaker
    with tenancy.scoped_session(factory, tenancy.NOBODY) as db:
        link = links.request_reset(db, email, ttl_minutes=config["PASSWORD_RESET_TTL_MINUTES"],
                                   max_per_hour=config["ACCOUNT_MAILS_PER_HOUR"], ip=ip)
    if link is None:
        return
    minutes = config["PASSWORD_RESET_TTL_MINUTES"]
    notices.send_now([notices.mail(
        link.email, f"Reset your {brand.product} password",
        f"Hello {link.name},\n\nSomeone (we hope you) asked to reset the password of your "
        f"{brand.product} account. Choose a new one here:\n\n"
        f"{brand.link('/reset-password/' + link.token)}\n\n"
        f"The link works once and expires in {minutes} minutes. Resetting signs you out "
        "everywhere. If you did not ask for it, ignore this mail: nothing changes.",
        brand.signature,
    )])


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    db = tenancy.request_session()
    status, email = links.reset_status(db, token)
    if status != "valid":
        return _problem(status, "reset")
    form = NewPasswordForm()
    if form.validate_on_submit():
        problem = password_problem(form.password.data, (email,))
        if problem:
            form.password.errors.append(problem)
        else:
            new_hash = _passwords().hash(form.password.data)
            outcome, user_id = links.complete_reset(db, token, new_hash)
            if outcome != "reset":
                return _problem(outcome, "reset")
            notices.send_with(db, [notices.security_notice(email, "Your password was reset")])
            db.commit()
            notices.audit_everywhere(user_id, email, "account.password_reset",
                                     {"sessions_ended": "all"})
            if g.get("principal") is not None and g.principal.user_id == user_id:
                session.clear()  # this browser's session ended with the others
            flash("Your password is changed and every session of your account was signed "
                  "out. Sign in with the new password.", "success")
            return redirect(url_for("auth.login", password=1), 303)
    return render_template("accounts/reset.html", form=form, email=email), (
        400 if request.method == "POST" else 200)


# ------------------------------------------------------------------------ open sign-up


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup():
    if not signup_open():
        abort(404)
    if g.get("principal") is not None:
        return redirect(url_for("auth.index"))
    form = SignupForm()
    if form.validate_on_submit():
        email, name = form.email.data.strip(), form.name.data.strip()
        problem = password_problem(form.password.data, (email, name))
        if problem:
            form.password.errors.append(problem)
        else:
            # Asked on an org's host: the mail is in its look and links back to that host.
            background().submit(_send_signup_link, email, name,
                                _passwords().hash(form.password.data),
                                request.remote_addr or "unknown", hosts_mail.for_request())
            return render_template("accounts/signup_sent.html", email=email)
    return render_template("accounts/signup.html", form=form), (
        400 if request.method == "POST" else 200)


def _send_signup_link(email: str, name: str, password_hash: str, ip: str,
                      brand: hosts_mail.MailBrand | None = None) -> None:
    brand = brand or hosts_mail.installation()
    config = current_app.config
    factory = current_app.extensions["tenantdesk.db"].sessionmaker
    with tenancy.scoped_session(factory, tenancy.NOBODY) as db:
        outcome, token = links.request_signup(
            db, email, name, password_hash, ttl_hours=config["SIGNUP_TTL_HOURS"],
            max_per_hour=config["ACCOUNT_MAILS_PER_HOUR"], ip=ip)
    if outcome == "sent":
        notices.send_now([notices.mail(
            email, f"Confirm your email for {brand.product}",
            f"Hello {name},\n\nConfirm your address to create your {brand.product} "
            f"account:\n\n{brand.link('/signup/verify/' + token)}\n\n"
            f"The link works once and expires in {config['SIGNUP_TTL_HOURS']} hours. If you "
            "did not sign up, ignore this mail.",
            brand.signature,
        )])
    elif outcome == "exists":
        notices.send_now([notices.mail(
            email, f"You already have a {brand.product} account",
            "Someone (we hope you) tried to sign up with this address, which already has an "
            f"account. Sign in at {brand.link('/login')} or, if you "
            f"forgot the password, reset it at "
            f"{brand.link('/forgot-password')}.",
            brand.signature,
        )])


@bp.route("/signup/verify/<token>", methods=["GET", "POST"])
@public
def signup_verify(token: str):
    if not signup_open():
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        # A GET never spends the link (mail scanners open links): one button does.
        return render_template("accounts/signup_verify.html", form=form), (
            400 if request.method == "POST" else 200)
    db = tenancy.request_session()
    outcome, user_id = links.complete_signup(db, token)
    if outcome != "created":
        return _problem(outcome, "signup")
    db = tenancy.bind_request(auth_service.context_for(user_id, None))  # commits the account
    user = db.get(User, user_id)
    record = auth_service.open_session(db, user, None, client_info())
    g.principal = None
    issue_token(record.id, user.id, None, None, keep_csrf=False)
    flash("Your email is confirmed and your account is ready.", "success")
    return redirect(url_for("accounts.welcome"), 303)


# ------------------------------------------------------------------------ first steps


@bp.route("/welcome")
@authenticated
def welcome():
    """A person without an org: join one by email domain, or create one. On an org's own
    host only that org is offered: join it by domain where it allows that, else a page
    saying its invitation is the way in (with a sign-out), never another org's anything."""
    db = tenancy.request_session()
    host = current_host()
    if host is not None and any(o.org_id == host.org_id for o in auth_service.user_orgs(db)):
        return redirect(url_for("orgs.home", slug=host.slug))  # a member by now: enter it
    offers = _offers(db)
    if host is not None and not offers:
        return render_template("accounts/needs_invitation.html", form=ConfirmForm())
    if not offers:
        return redirect(url_for("orgs.create"))
    return render_template("accounts/welcome.html", offers=offers, form=ConfirmForm())


def _offers(db) -> list[links.Joinable]:
    offers = links.joinable_orgs(db)
    host = current_host()
    if host is not None:  # an org's host offers that org and nothing else
        offers = [o for o in offers if o.org_id == host.org_id]
    return offers


@bp.route("/welcome/join/<uuid:org_id>", methods=["POST"])
@authenticated
def join_by_domain(org_id: uuid.UUID):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db = tenancy.request_session()
    offer = next((o for o in _offers(db) if o.org_id == org_id), None)
    role = links.join_by_domain(db, org_id) if offer else None
    if role is None:
        abort(404)  # not offered to this person: alike for every other org
    choice = auth_service.OrgChoice(offer.org_id, offer.slug, offer.name, "active", role)
    try:
        switch_to(choice, via="domain-join")
    except auth_service.EntryRefused:
        db.commit()  # the join stands; the org wants its identity provider for the session
        flash(f"You joined {offer.name}. It signs in through single sign-on: use your "
              "company sign-in to open it.", "info")
        return redirect(url_for("auth.login"), 303)
    db = tenancy.request_session()
    record_audit(db, org_id=org_id, actor=notices.actor_for(g.principal.user_id,
                                                            g.principal.email),
                 action="member.join_by_domain", target=f"user:{g.principal.email}",
                 after={"role": role}, details={"domain": g.principal.email.split("@")[-1]})
    flash(f"You joined {offer.name}.", "success")
    return redirect(url_for("orgs.home", slug=offer.slug), 303)
