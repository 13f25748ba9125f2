"""Sign in, sign out and switch org. HTTP only: rules live in auth/service.py."""

from __future__ import annotations

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
from flask_login import logout_user

from dashboard import people, tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.auth import service
from dashboard.auth.forms import LoginForm, switch_choice
from dashboard.auth.landing import same_page_in_org
from dashboard.auth.principal import client_info, issue_token, principal_with
from dashboard.auth.switching import switch_to
from dashboard.hosts import current_host, sibling_url
from dashboard.models import User
from dashboard.permissions import authenticated, public
from dashboard.redirects import safe_next
from dashboard.sso import login as sso_login
from dashboard.sso import logout as sso_logout
from dashboard.sso import service as sso_service

bp = Blueprint("auth", __name__)

SEARCH_ABOVE = 5  # the switcher shows a search box when the user has more orgs than this
RECENT_ABOVE = 8  # ... and a "Recent" section above the others when there are more than this
RECENT_COUNT = 5


@bp.route("/")
@public
def index():
    membership = g.get("membership")
    if membership:
        return redirect(url_for("orgs.home", slug=membership.slug))
    if g.get("principal"):
        # Signed in without an active org (never had one, removed, or it was suspended).
        if current_host() is not None:
            return redirect(url_for("accounts.welcome"))  # this org's way in, nothing else
        if service.user_orgs(tenancy.request_session()):
            return redirect(url_for("auth.switcher"))
        if g.principal.is_staff:  # the operator's staff work in the console, not in an org
            return redirect(url_for("console.index"))
        return redirect(url_for("orgs.create"))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    error = None
    status = 200
    submitted = form.validate_on_submit()
    host = current_host()  # an org's own host: its SSO button, then email and password
    password_step = (host is not None or request.args.get("password") == "1"
                     or form.step.data == "password" or bool(form.password.data))
    if submitted and not form.password.data:
        # Email first: a verified SSO domain goes to its IdP, anything else to the password.
        connection_id = sso_service.connection_for_email(
            tenancy.request_session(), form.email.data)
        if connection_id is not None and not password_step:
            return sso_login.begin(connection_id, next_path=safe_next(request.args.get("next")),
                                   login_hint=form.email.data)
        if password_step:
            form.password.errors = ["Enter your password."]
            status = 400
        password_step = True
    elif submitted:
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
            from dashboard.accounts.signin import after_password

            return after_password(user)  # a second factor first, when the person has one
    elif request.method == "POST":
        status = 400
    form.step.data = "password" if password_step else ""
    show_password_form = host is None or host.password_allowed or (
        host.owner_break_glass and (request.args.get("password") == "1" or submitted))
    return render_template(
        "auth/login.html", form=form, error=error, password_step=password_step,
        show_password_form=show_password_form,
    ), status


def _sign_in(user: User, mfa_method: str | None = None):
    """Open a session in the last active org (else the first active one) and audit it there.
    ``mfa_method``: the second factor the person just proved (dashboard/accounts)."""
    auth = service.SessionAuth(mfa_method=mfa_method)
    db = tenancy.bind_request(service.context_for(user.id, None))
    orgs = service.user_orgs(db)
    host = current_host()
    if host is not None:  # an org's own host opens a session in that org or none
        elsewhere = bool(orgs)
        orgs = [o for o in orgs if o.org_id == host.org_id]
        if not orgs and not _may_wait_here(db, host, elsewhere):
            raise NotMemberHere(host.name)
    allowed = service.enterable_orgs(db, orgs)  # SSO enforcement: no password session there
    if orgs and not allowed:
        blocked = service.preferred_org(orgs, user.last_org_id)
        raise service.EntryRefused(blocked, service.PASSWORD,
                                   service.sso_policies(db).get(blocked.org_id))
    org = service.preferred_org(allowed, user.last_org_id)
    if org is not None and org.status != "active":
        org = None
    db = tenancy.bind_request(service.context_for(user.id, org.org_id if org else None))
    record = service.open_session(db, user, org, client_info(), auth)
    g.principal = None
    g.membership = None
    if org:
        record_audit(
            db,
            org_id=org.org_id,
            actor=_actor_for(user),
            action="sso.break_glass_login" if record.auth_method == "break_glass"
            else "auth.login",
            target=f"user:{user.email}",
            details={"method": record.auth_method, "session": str(record.id),
                     **({"mfa": record.mfa_method} if record.mfa_method else {})},
        )
    issue_token(
        record.id, user.id, org.org_id if org else None, org.role if org else None,
        keep_csrf=False,
    )
    if org is None and host is not None:
        return redirect(url_for("accounts.welcome"))  # this org's way in (join, invitation)
    target = safe_next(request.args.get("next"))
    if target:
        return redirect(target)
    if org is None:
        return redirect(url_for("auth.index"))
    return redirect(url_for("orgs.home", slug=org.slug))


def _may_wait_here(db, host, elsewhere: bool) -> bool:
    """A non-member signing in on an org's host gets a session there without an org (its
    welcome page: join by domain, or how to get an invitation) when this org lets them join
    by their email domain, or when they have no org anywhere else to be sent to."""
    from dashboard.accounts.links import joinable_orgs

    return not elsewhere or any(o.org_id == host.org_id for o in joinable_orgs(db))


class NotMemberHere(Exception):
    """A correct sign-in on an org's host by someone who is not its member: no session."""

    def __init__(self, org_name: str) -> None:
        super().__init__(org_name)
        self.org_name = org_name


@bp.app_errorhandler(NotMemberHere)
def _not_member_here(exc: NotMemberHere):
    form = LoginForm(formdata=None)
    form.step.data = "password"
    return render_template(
        "auth/login.html", form=form, password_step=True, show_password_form=True,
        error=f"This account is not a member of {exc.org_name}. Sign in at "
              f"{current_app.config['BASE_URL'].rstrip('/')}/login instead.",
    ), 403


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
            details={"session": str(g.principal.session_id)},
        )
    remembered_sso = session.get(sso_logout.SESSION_KEY)
    end_browser_session()
    # Signed in through a SAML IdP with Single Logout: end the IdP's session too.
    at_idp = sso_logout.begin(remembered_sso)
    if at_idp is not None:
        return at_idp
    flash("You are signed out.", "info")
    # "Sign out and continue" (e.g. an invitation opened while signed in as someone else)
    # comes back to the page it was on; only a path on this site is followed.
    return redirect(safe_next(request.form.get("next")) or url_for("auth.login"))


def end_browser_session() -> None:
    """Drop the browser token (the session row is already revoked)."""
    logout_user()
    g.principal = None  # signed out for the rest of this request too
    session.clear()


def _switch_rider(req) -> tuple[str, dict] | None:
    """The switch's target look-up, riding in the session check (``principal_with``)."""
    slug = req.form.get("slug") or ""
    if not slug.strip() or len(slug) > 40:  # what switch_choice refuses: nothing to read
        return None
    return service.SWITCH_RIDER_SQL, {"target_slug": slug}


def _switch_target(slug: str) -> service.SwitchTarget | None:
    """The target as the session check's statement read it, or read now (alone) if the check
    did not carry it (Flask-Login's stock path, or another slug)."""
    carried = g.get("principal_rider")
    if carried is not None and carried[0].get("target_slug") == slug:
        return service.switch_target_of(carried[1])
    return service.switch_target(tenancy.request_session(), slug, alone=True)


@bp.route("/switch", methods=["POST"])
# The session check carries the target look-up (one statement, a transaction of its own: no
# BEGIN, no COMMIT); the switch's writes are the new org's transaction, alone too (issue 20).
@principal_with(_switch_rider)
@authenticated
def switch():
    form = request.form
    choice = switch_choice(form)
    if choice is None:
        flash("Choose an organization to switch to.", "error")
        return redirect(url_for("auth.switcher"), 303)
    found = _switch_target(choice.slug)
    if found is None:
        abort(404)  # not a member, no such org, or suspended: all alike
    target = found.org
    host = current_host()
    if host is not None and target.org_id != host.org_id:
        # Another org lives on its own host (its session cookie too): go there.
        elsewhere = sibling_url(target.slug) + url_for("orgs.home", slug=target.slug)
        if request.headers.get("HX-Request"):
            return "", 204, {"HX-Redirect": elsewhere}
        # CSP form-action 'self' would block a redirect to another host after this POST:
        # a same-origin page moves on by meta refresh (as starting SSO does).
        return render_template("hosts/elsewhere.html", url=elsewhere, org_name=target.name)
    current = g.get("membership")
    if current is not None and current.org_id == target.org_id:
        permissions = current.permissions  # already there: nothing to reissue
    else:
        via = "switched-page" if form.get("via") == "switched-page" else "switcher"
        permissions = switch_to(found, via=via)
    landing = same_page_in_org(safe_next(choice.next), target.slug, permissions)
    if request.headers.get("HX-Request"):
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = landing
        return response
    return redirect(landing, 303)


@bp.route("/switcher")
@authenticated
def switcher():
    """The switcher: the user's orgs with their role, the active one marked.

    A full page without JavaScript; an htmx fragment for the top-bar dropdown; just the
    result list for the search box (shown when there are more than 5 orgs). With many orgs
    and no search typed, the ones the person opened last come first under "Recent".
    """
    db = tenancy.request_session()
    orgs = service.user_orgs(db)
    total = len(orgs)
    query = (request.args.get("q") or "").strip().lower()[:100]
    recent = []
    if query:
        orgs = [o for o in orgs if query in o.name.lower() or query in o.slug]
    elif total > RECENT_ABOVE:
        recent, orgs = service.split_recent(orgs, people.recent_orgs(db), RECENT_COUNT)
    if request.headers.get("HX-Target") == "switcher-results":
        template = "partials/switcher_results.html"
    elif request.headers.get("HX-Request"):
        template = "partials/switcher_list.html"
    else:
        template = "auth/switcher.html"
    return render_template(
        template,
        orgs=orgs,
        recent=recent,
        total=total,
        query=query,
        searchable=total > SEARCH_ABOVE,
        next_path=safe_next(request.args.get("next")) or "",
    )


@bp.route("/switched")
@authenticated
def switched():
    """Where a stale tab's htmx request is sent after the user switched org elsewhere."""
    wanted = next(
        (o for o in service.user_orgs(tenancy.request_session())
         if o.slug == request.args.get("org", "")),
        None,
    )
    return render_template(
        "errors/switched.html",
        wanted=wanted,
        active=g.get("membership"),
        next_path=safe_next(request.args.get("next")) or "",
    )
