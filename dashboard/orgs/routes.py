"""Org home and org creation. HTTP only."""

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
    url_for,
)

from dashboard import tenancy
from dashboard.auth import service as auth_service
from dashboard.auth.principal import client_info, issue_token, principal_only, principal_with
from dashboard.hosts import current_host
from dashboard.orgs import home_read, service
from dashboard.orgs import page as home_page
from dashboard.orgs.forms import CreateOrgForm
from dashboard.permissions import Permission, authenticated, requires
from dashboard.rendering import render_bytes
from dashboard.usage import web as usage_web

bp = Blueprint("orgs", __name__)


# The home's read rides in the session check's statement (home_read.py): one statement.
@bp.route("/o/<slug>/")
@principal_with(home_read.rider)
@requires(Permission.ORG_VIEW)
def home():
    membership = g.membership
    found = home_read.page(membership)
    if found is None:
        abort(404)
    overview, panels, usage = found
    principal = g.principal
    content = home_page.content(
        overview,
        panels,
        membership.role,
        principal.time_zone if principal else None,
        usage_web.home_panel(usage),
    )
    return render_bytes("orgs/home.html", overview=overview, content=content)


@bp.route("/o/<slug>/whoami.json")
@principal_only  # its one statement is its transaction: no BEGIN, no COMMIT
@requires(Permission.ORG_VIEW)
def whoami():
    """Who you are in this org, as JSON: the smallest signed-in page (issue 20's cost floor).

    It pays every check any page pays (the session row, the membership and role under the RLS
    gate, the slug against the token's org) and nothing else.
    """
    membership, principal = g.membership, g.principal
    return {
        "user": {"id": str(principal.user_id), "email": principal.email},
        "org": {"id": str(membership.org_id), "slug": membership.slug},
        "role": membership.role,
    }


@bp.route("/orgs/new", methods=["GET", "POST"])
@authenticated
def create():
    if current_host() is not None:
        # An org's host serves that org only: a new org would be another org's session here.
        flash(
            "New organizations are created on "
            f"{current_app.config['BASE_URL'].rstrip('/')}, not on {current_host().name}'s "
            "address.",
            "info",
        )
        return redirect(url_for("auth.index"), 303)
    form = CreateOrgForm()
    status = 200
    if form.validate_on_submit():
        db = tenancy.request_session()
        try:
            org_id = service.create_org(db, form.name.data, form.slug.data or "")
        except service.OrgError as exc:
            getattr(form, exc.field).errors.append(exc.message)
            status = 400
        else:
            from dashboard.models import User

            user = db.get(User, g.principal.user_id)
            org = next(o for o in auth_service.user_orgs(db) if o.org_id == org_id)
            auth = auth_service.session_auth(db, g.principal.session_id)
            record = auth_service.open_session(db, user, org, client_info(), auth)
            auth_service.revoke_session(db, g.principal.session_id, "switched org")
            tenancy.bind_request(auth_service.context_for(user.id, org_id))
            from dashboard.audit.service import record_audit
            from dashboard.audit.web import request_actor

            record_audit(
                tenancy.request_session(),
                org_id=org_id,
                actor=request_actor(),
                action="org.create",
                target=f"org:{org.slug}",
                after={"name": org.name},
            )
            issue_token(record.id, user.id, org_id, "owner")
            return redirect(url_for("orgs.home", slug=org.slug), 303)
    elif request.method == "POST":
        status = 400
    return render_template("orgs/create.html", form=form), status
