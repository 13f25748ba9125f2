"""Tenant by hostname, verified custom domains and per-org branding (issue 23).

``init_app`` registers the host step, which runs before the principal is loaded:

1. the request's host is resolved to an org (``resolve.py``) or to the installation;
2. on an org's host, only that org exists: a browser session of another org (or of no org)
   is dropped before it is read (a session without an org only lives on the host that
   opened it: someone who signed up there and is offered that org's way in, ``/welcome``),
   ``/o/<other-slug>/...`` answers 404, and
   ``tenancy.bind_request`` refuses (404) any transaction for another org, whoever asks
   (browser, API key, SCIM token, partner);
3. a browser session used on an org's host is bound to that host (``bind_session``): once
   the host stops serving the org (its custom domain removed or un-verified, the org
   suspended or renamed) or the cookie turns up on any other host, it is dropped unread;
4. templates get ``brand`` (name, logo, colour, white label); mails take theirs from
   ``mail.py`` (the org's look and its own host in every link).

Session cookies carry no ``Domain`` attribute (``SESSION_COOKIE_DOMAIN`` stays None), so a
browser sends the cookie a host set to that host only: signing in at acme.<suffix> signs
nobody in at globex.<suffix> or at the installation's host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, g, request, session
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.local import LocalProxy

from dashboard import tenancy
from dashboard.hosts import brand as brands
from dashboard.hosts.resolve import HostOrg, classify, host_and_port, installation_host, look_up
from dashboard.hosts.resolve import normalized_suffix as _suffix

HOST_BINDING = "host"  # session key: the HostOrg.binding this session is bound to


def current_host() -> HostOrg | None:
    """The org this request's host serves; None on the installation's own pages."""
    return g.get("host_org")


def resolve_host() -> None:
    request_g = g._get_current_object()  # proxies read once (this runs on every request)
    request_g.host_org = None
    request_g.host_org_id = None  # read by tenancy.bind_request
    req = request._get_current_object()
    if req.endpoint == "static":
        return  # the same public files everywhere
    host = _look_up_host(req)
    _drop_foreign_session(host)
    if host is None:
        return  # the installation's pages
    request_g.host_org, request_g.host_org_id = host, host.org_id
    slug = request_g.get("org_slug")  # URL value preprocessors ran already
    if slug is not None and slug != host.slug:
        abort(404)  # another org's pages under this host: exactly like a missing org


def _look_up_host(req) -> HostOrg | None:
    config = current_app.config
    key = (req.host, req.scheme, config["BASE_URL"], config.get("TENANT_HOST_SUFFIX"))
    named = _NAMED.get(key)
    if named is None:
        named = _NAMED[key] = _name_of(*key)
        if len(_NAMED) > _NAMED_AT_MOST:  # host headers are the client's: keep it bounded
            _NAMED.clear()
    name, base_url = named
    if name is None:
        return None
    # None: no such org, a domain not (or no longer) verified, a suspended org.
    return look_up(tenancy.request_session(), name, base_url)


# (host, scheme, BASE_URL, suffix) -> what the host names and its base URL: the parse is the
# same for the same inputs, and a browser sends the same Host on every request (issue 20).
_NAMED: dict = {}
_NAMED_AT_MOST = 1000


def _name_of(host: str, scheme: str, base: str, suffix: str | None):
    hostname, port = host_and_port(host)
    name = classify(hostname, installation_host(base), _suffix(suffix))
    # Rebuilt from the parsed parts, never the raw header: it goes into links and redirects.
    return name, f"{scheme}://{hostname}" + (f":{port}" if port else "")


def _drop_foreign_session(host: HostOrg | None) -> None:
    """Forget, before the principal loader reads it, a browser session this host may not
    serve: on an org's host, one of another org (or of no org); anywhere, one bound to a
    host that is not this one, or that no longer serves its org."""
    cookie = session._get_current_object()
    if not cookie.get("_user_id"):
        return
    bound = cookie.get(HOST_BINDING)
    if host is None:
        foreign = bound is not None
    elif not cookie.get("oid"):
        # A person without an org (signed up here, not a member yet) keeps the session
        # this host opened, on this host only (``bind_session`` bound it with its response).
        foreign = bound != host.binding
    else:
        foreign = cookie.get("oid") != str(host.org_id) or bound not in (None, host.binding)
    if foreign:
        cookie.clear()


def bind_session(response):
    """Bind a session used on an org's host to that host (after the view, so a sign-in on
    the host is bound by its own response). A cookie is host-only in the browser; the
    binding makes the server agree, so removing a custom domain ends what was opened on it.
    On a custom domain the session row records it too, in the request's own transaction
    (this hook runs before it commits), and the domain's removal revokes the row."""
    host = current_host()
    # An org-less session here is one this request opened (any other was dropped unread).
    if (host is not None and response.status_code < 400 and session.get("_user_id")
            and session.get("oid") in (str(host.org_id), "", None)
            and session.get(HOST_BINDING) != host.binding):
        if host.domain_id is not None:
            tenancy.request_session().execute(_RECORD_DOMAIN, {
                "domain": host.domain_id, "sid": session["_user_id"]})
        session[HOST_BINDING] = host.binding
    return response


# One's own row only (the person policy); revoked by custom_domains' trigger (0037).
_RECORD_DOMAIN = text("UPDATE user_sessions SET host_domain_id = :domain"
                      " WHERE id = app_uuid(:sid)")


def current_brand() -> brands.Brand:
    """The brand of this page: the host's org, else the active org, else Tenantdesk."""
    if "brand" in g:
        return g.brand
    try:
        g.brand = _compute_brand()
    except SQLAlchemyError:  # an error page while the database is away: plain looks
        g.brand = brands.INSTALLATION
    return g.brand


def _compute_brand() -> brands.Brand:
    from dashboard.licenses.web import current_entitlements

    host, membership = current_host(), g.get("membership")
    db = tenancy.request_session()
    if membership is not None and (host is None or host.org_id == membership.org_id):
        entitlements = current_entitlements()
        enabled = frozenset(k for k in brands.BRAND_FEATURES
                            if entitlements is not None and entitlements.has(k))
        # The branding row came with the principal (one statement, no extra query).
        return brands.from_branding(membership.name, membership.branding, enabled)
    if host is not None:
        return brands.from_branding(host.name, host.branding, brands.host_features(db, host))
    return brands.INSTALLATION


def sibling_url(slug: str) -> str:
    """Another org's base URL as seen from this request: on an org host, its scheme and port
    (the browser's view); elsewhere as in mails (``brand.org_base_url``)."""
    config = current_app.config
    host, suffix = current_host(), _suffix(config.get("TENANT_HOST_SUFFIX"))
    if host is None or not suffix:
        return brands.org_base_url(config, slug)
    parts = urlsplit(host.base_url)
    return f"{parts.scheme}://{slug}{suffix}" + (f":{parts.port}" if parts.port else "")


def init_app(app) -> None:
    from dashboard.hosts import routes

    # Registered before the principal loader (create_app calls this first).
    app.before_request(resolve_host)
    app.after_request(bind_session)
    # Lazy: a fragment that never shows the brand costs no query.
    brand = LocalProxy(current_brand)
    app.context_processor(lambda: {"brand": brand, "host_org": current_host()})
    app.register_blueprint(routes.bp)
