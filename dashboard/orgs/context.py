"""Resolve ``/o/<slug>/...`` against the session token's active org.

- the token's org: go on;
- another org the user belongs to: a plain page load (GET) goes through the switch
  (membership checked, token reissued) and comes back to the same URL. Anything else - a
  form post, an htmx request from a tab still showing the old org - lands on the "you
  switched organisation" page and changes nothing, so a stale tab never acts on, nor
  silently switches to, the wrong org;
- an org the user does not belong to, or no such org: 404, exactly alike, and nothing of
  that org is read (only the user's own org list is consulted).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for

from dashboard import tenancy
from dashboard.auth import service as auth_service


class OrgSwitchedElsewhere(Exception):
    def __init__(self, wanted: auth_service.OrgChoice) -> None:
        self.wanted = wanted


def take_slug(endpoint, values) -> None:
    # URL value preprocessors run before before_request hooks, so only note the slug here;
    # ``resolve_org_slug`` checks it once the principal is known.
    g.org_slug = values.pop("slug", None) if values else None


def resolve_org_slug() -> None:
    request_g = g._get_current_object()  # one proxy read (this runs on every request)
    slug = request_g.get("org_slug")
    if slug is None:
        return
    principal = request_g.get("principal")
    if principal is None:
        return  # the route guard sends the visitor to sign in
    membership = request_g.get("membership")
    if membership is not None and membership.slug == slug:
        return
    found = auth_service.switch_target(tenancy.request_session(), slug, active_only=False)
    if found is None:
        abort(404)
    choice = found.org
    if choice.status == "suspended":
        abort(make_response(render_template("errors/suspended.html", org_name=choice.name), 403))
    if request.method not in ("GET", "HEAD") or request.headers.get("HX-Request"):
        raise OrgSwitchedElsewhere(choice)
    from dashboard.auth.switching import switch_to

    previous = g.get("membership")
    switch_to(found, via="link")
    # A link or the Back button changed the working org: say so, naming both, never silently.
    if previous is not None:
        flash(f"You switched from {previous.name} to {choice.name}: the page you opened "
              f"belongs to {choice.name}.", "switched")
    else:
        flash(f"You are now working in {choice.name}.", "switched")
    abort(redirect(request.full_path if request.query_string else request.path, 303))


def _switched_response(exc: OrgSwitchedElsewhere):
    active = g.get("membership")
    back = request.path if request.method in ("GET", "HEAD") else (
        _referrer_path() or request.path
    )
    if request.headers.get("HX-Request"):
        # htmx would drop a 4xx body: send the whole tab to the explanation instead.
        target = url_for("auth.switched") + "?" + urlencode(
            {"org": exc.wanted.slug, "next": back}
        )
        return "", 409, {"HX-Redirect": target}
    return (
        render_template(
            "errors/switched.html", wanted=exc.wanted, active=active, next_path=back
        ),
        409,
    )


def _referrer_path() -> str | None:
    from urllib.parse import urlsplit

    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path or None


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

    _keep_slug.url_default_reads = ("org_slug",)  # what App.url_for's memory keys on

    app.register_error_handler(OrgSwitchedElsewhere, _switched_response)
