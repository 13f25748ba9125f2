"""Resolve ``/o/<slug>/...`` against the session token's active org.

- the token's org: go on;
- another org the user belongs to: a GET goes through the switch (membership checked, token
  reissued) and comes back to the same URL; any other method lands on the "you switched
  organisation" page, so a stale tab never acts on the wrong org;
- an org the user does not belong to, or no such org: 404, exactly alike.
"""

from __future__ import annotations

from flask import abort, g, make_response, redirect, render_template, request

from dashboard import tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.auth import service as auth_service
from dashboard.auth.principal import client_info, issue_token


class OrgSwitchedElsewhere(Exception):
    def __init__(self, wanted_slug: str) -> None:
        self.wanted_slug = wanted_slug


def take_slug(endpoint, values) -> None:
    # URL value preprocessors run before before_request hooks, so only note the slug here;
    # ``resolve_org_slug`` checks it once the principal is known.
    g.org_slug = values.pop("slug", None) if values else None


def resolve_org_slug() -> None:
    slug = g.get("org_slug")
    if slug is None:
        return
    principal = g.get("principal")
    if principal is None:
        return  # the route guard sends the visitor to sign in
    membership = g.get("membership")
    if membership is not None and membership.slug == slug:
        return
    db = tenancy.request_session()
    choice = next((o for o in auth_service.user_orgs(db) if o.slug == slug), None)
    if choice is None:
        abort(404)
    if choice.status == "suspended":
        abort(make_response(render_template("errors/suspended.html", org_name=choice.name), 403))
    if request.method not in ("GET", "HEAD"):
        raise OrgSwitchedElsewhere(slug)
    _switch_and_return(slug)


def _switch_and_return(slug: str) -> None:
    from dashboard.models import User

    db = tenancy.request_session()
    user = db.get(User, g.principal.user_id)
    result = auth_service.switch_org(db, user, g.principal.session_id, slug, client_info())
    if result is None:
        abort(404)
    new_session, org = result
    tenancy.bind_request(tenancy.TenantContext(user_id=user.id, org_id=org.org_id))
    record_audit(
        tenancy.request_session(),
        org_id=org.org_id,
        actor=request_actor(),
        action="session.switch",
        target=f"org:{org.slug}",
        details={"via": "link"},
    )
    issue_token(new_session.id, user.id, org.org_id, org.role)
    abort(redirect(request.full_path if request.query_string else request.path, 303))


def init_app(app) -> None:
    app.url_value_preprocessor(take_slug)
    app.before_request(resolve_org_slug)  # registered after the principal loader

    @app.url_defaults
    def _keep_slug(endpoint, values):
        # url_for('members.index') inside an org page keeps the current org.
        if "slug" in values or not g.get("org_slug"):
            return
        if app.url_map.is_endpoint_expecting(endpoint, "slug"):
            values["slug"] = g.org_slug

    @app.errorhandler(OrgSwitchedElsewhere)
    def _switched(exc: OrgSwitchedElsewhere):
        active = g.get("membership")
        return (
            render_template(
                "errors/switched.html", wanted_slug=exc.wanted_slug, active=active
            ),
            409,
        )
