"""Sign in, sign out and switch org. HTTP only: rules live in auth/service.py."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import logout_user

from dashboard import tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.auth import service
from dashboard.auth.forms import LoginForm, SwitchOrgForm
from dashboard.auth.landing import same_page_in_org
from dashboard.auth.principal import client_info, issue_token
from dashboard.models import User
from dashboard.permissions import authenticated, public

bp = Blueprint("auth", __name__)


def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@bp.route("/")
@public
def index():
    membership = g.get("membership")
    if membership:
        return redirect(url_for("orgs.home", slug=membership.slug))
    if g.get("principal"):
        return redirect(url_for("orgs.create"))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        db = tenancy.request_session()
        try:
            user = service.authenticate(
                db,
                current_app.extensions["tenantdesk.passwords"],
                form.email.data,
                form.password.data,
                client_info(),
                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                window_seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"],
                max_failures_per_ip=current_app.config["LOGIN_MAX_FAILURES_PER_IP"],
            )
        except service.LoginThrottled as exc:
            error, status = exc.message, 429
        except service.LoginRefused as exc:
            error, status = exc.message, 401
        else:
            return _sign_in(user)
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, error=error), status


def _sign_in(user: User):
    db = tenancy.bind_request(service.context_for(user.id, None))
    org = service.preferred_org(service.user_orgs(db), user.last_org_id)
    record = service.open_session(db, user, org, client_info())
    g.principal = None
    if org:
        tenancy.bind_request(service.context_for(user.id, org.org_id))
        g.membership = None
        record_audit(
            tenancy.request_session(),
            org_id=org.org_id,
            actor=_actor_for(user),
            action="auth.login",
            target=f"user:{user.email}",
            details={"method": "password"},
        )
    issue_token(record.id, user.id, org.org_id if org else None, org.role if org else None)
    target = _safe_next(request.args.get("next"))
    if target:
        return redirect(target)
    if org is None:
        return redirect(url_for("orgs.create"))
    return redirect(url_for("orgs.home", slug=org.slug))


def _actor_for(user: User):
    actor = request_actor()
    return actor.__class__(
        label=user.email, user_id=user.id, ip=actor.ip, user_agent=actor.user_agent
    )


@bp.route("/logout", methods=["POST"])
@authenticated
def logout():
    db = tenancy.request_session()
    service.revoke_session(db, g.principal.session_id, "signed out")
    membership = g.get("membership")
    if membership:
        record_audit(
            db, org_id=membership.org_id, actor=request_actor(), action="auth.logout",
            target=f"user:{g.principal.email}",
        )
    logout_user()
    from flask import session

    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/switch", methods=["POST"])
@authenticated
def switch():
    form = SwitchOrgForm()
    if not form.validate_on_submit():
        flash("Choose an organization to switch to.", "error")
        return redirect(url_for("auth.index"))
    db = tenancy.request_session()
    user = db.get(User, g.principal.user_id)
    result = service.switch_org(db, user, g.principal.session_id, form.slug.data, client_info())
    if result is None:
        return render_template("errors/404.html"), 404
    new_session, org = result
    tenancy.bind_request(service.context_for(user.id, org.org_id))
    old = g.get("membership")
    record_audit(
        tenancy.request_session(),
        org_id=org.org_id,
        actor=request_actor(),
        action="session.switch",
        target=f"org:{org.slug}",
        before={"org": old.slug if old else None},
        after={"org": org.slug},
    )
    issue_token(new_session.id, user.id, org.org_id, org.role)
    landing = same_page_in_org(form.next.data, org.slug)
    if request.headers.get("HX-Request"):
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = landing
        return response
    return redirect(landing, 303)


@bp.route("/switcher")
@authenticated
def switcher():
    """The switcher's list, as an htmx fragment (or a full page without JavaScript)."""
    db = tenancy.request_session()
    orgs = service.user_orgs(db)
    query = (request.args.get("q") or "").strip().lower()[:100]
    if query:
        orgs = [o for o in orgs if query in o.name.lower() or query in o.slug]
    template = "partials/switcher_list.html" if request.headers.get("HX-Request") else (
        "auth/switcher.html"
    )
    return render_template(
        template, orgs=orgs, query=query, next_path=_safe_next(request.args.get("next")) or ""
    )
