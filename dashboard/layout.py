"""The page chrome of templates/base.html (head assets, body attributes, top bar, org
switcher, user menu, side navigation, flash messages), built in Python once per page.

Issue 20: as Jinja (four includes, a loop over the navigation, a context processor building
the navigation and the current path for every template, fragments included) the chrome was
about a third of the org home's app CPU. Here each piece is one string, every value escaped
by hand with ``markupsafe.escape``; tests/db/test_layout.py checks the page is byte for byte
what the former templates (kept in tests/db/layout_before/) rendered.

base.html keeps the blocks (title, head, banner, user_menu_links, content) and the rare
banners (support mode, a tier move) as Jinja; ``page_layout()`` gives it the rest.
"""

from __future__ import annotations

from flask import current_app, g, get_flashed_messages, request, url_for
from flask.globals import _cv_request
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError

from dashboard.flask_app import _URL_VALUES
from dashboard.navigation import features_shown, visible_items
from dashboard.permissions import can, role_label

_LOCK = (
    ' <span class="lock" title="Not included in your plan">🔒<span class="visually-hidden">'
    " (not in your plan)</span></span>"
)


class PageLayout:
    """The pieces base.html prints around its blocks, each a ``Markup`` string."""

    __slots__ = (
        "assets",
        "body_attributes",
        "license_banner",
        "main_start",
        "principal",
        "product",
        "topbar",
        "user_menu_end",
    )

    def __init__(self, brand, principal, membership, csrf: str) -> None:
        # Each piece below escapes every value it prints (markupsafe.escape): it is HTML.
        url_key = _url_key()
        urls = _fixed_urls(url_key)
        self.principal = principal
        self.product = escape(brand.product)
        self.assets = _html(_assets(brand, urls))
        self.body_attributes = _html(_body_attributes(principal, csrf, urls))
        entitlements = _request_entitlements(membership)
        self.license_banner = _html(_license_banner(membership, entitlements))
        self.topbar = _html(_topbar(brand, principal, membership, urls))
        self.user_menu_end = _html(_user_menu_end(csrf, urls))
        self.main_start = _html(_main_start(membership, url_key, entitlements))


def _html(built: str) -> Markup:
    """A piece built here, every value in it escaped as it was put in."""
    return Markup(built)  # noqa: S704 - escaped piece by piece above


_KEEP_AT_MOST = 1000
_kept: dict = {}  # pieces that are the same on every page with the same key (see _kept_piece)


def _kept_piece(key: tuple | None, build):
    """``build()``, kept per process under ``key`` when there is one. Each key names all a
    piece depends on, starting with ``App.url_key()`` (the request's URL binding and URL
    defaults: a URL built under the same key is the same URL)."""
    if key is None:
        return build()
    piece = _kept.get(key)
    if piece is None:
        piece = build()
        if len(_kept) >= _KEEP_AT_MOST:
            _kept.clear()
        _kept[key] = piece
    return piece


_FIXED = {  # the chrome's URLs that depend on nothing but the request's URL binding
    "css": ("static", {"filename": "css/app.css"}),
    "htmx": ("static", {"filename": "vendor/htmx-2.0.11.min.js"}),
    "js": ("static", {"filename": "js/app.js"}),
    "index": ("auth.index", {}),
    "time_zone": ("accounts.set_time_zone", {}),
    "profile": ("accounts.profile", {}),
    "sessions": ("account.session_list", {}),
    "console": ("console.index", {}),
    "logout": ("auth.logout", {}),
}


def _url_key() -> tuple | None:
    """What every URL this request builds depends on besides its endpoint and values: the
    URL adapter's binding and what the URL default functions read, the key ``App.url_for``
    remembers URLs by (dashboard/flask_app.py); None when URLs are not remembered."""
    app = current_app._get_current_object()
    reads = getattr(app, "_url_default_reads", None) if app._got_first_request else None
    request_ctx = _cv_request.get(None)
    binding = getattr(request_ctx.url_adapter, "remembered_binding", None) if request_ctx else None
    if binding is None or reads is None:
        return None
    defaults_read = tuple(getattr(g, name, None) for name in reads)
    if not all(type(v) in _URL_VALUES for v in defaults_read):
        return None
    return binding, defaults_read


def _fixed_urls(url_key: tuple | None) -> dict[str, Markup]:
    return _kept_piece(
        url_key and ("urls", url_key),
        lambda: {
            name: escape(url_for(endpoint, **values)) for name, (endpoint, values) in _FIXED.items()
        },
    )


def page_layout() -> PageLayout:
    """The chrome of the page being rendered (base.html's first line)."""
    from dashboard.hosts import current_brand
    from dashboard.security import csrf_token

    return PageLayout(current_brand(), g.get("principal"), g.get("membership"), csrf_token())


def _assets(brand, urls: dict[str, Markup]) -> str:
    theme = (
        f'<link rel="stylesheet" href="{escape(url_for("hosts.theme", color=brand.primary_color[1:]))}">'  # noqa: E501
        if brand.primary_color
        else ""
    )
    return (
        f'<link rel="stylesheet" href="{urls["css"]}">\n  {theme}\n'
        f'  <script src="{urls["htmx"]}" defer></script>\n'
        f'  <script src="{urls["js"]}" defer></script>'
    )


def _body_attributes(principal, csrf: str, urls: dict[str, Markup]) -> str:
    attributes = f'hx-headers=\'{{"X-CSRFToken": "{escape(csrf)}"}}\''
    if principal and not principal.time_zone:
        attributes += f' data-time-zone-url="{urls["time_zone"]}"'
    return attributes


_FAILED = object()  # the entitlements could not be read (an error page after a failed query)


def _request_entitlements(membership):
    """The active org's entitlements, read once for the license notice and the navigation's
    lock marks (the transaction's copy: no statement of their own); None outside an org."""
    if membership is None:
        return None
    from dashboard.licenses.web import current_entitlements

    try:
        return current_entitlements()
    except SQLAlchemyError:  # an error page after a failed query must still render
        return _FAILED


def _license_banner(membership, entitlements) -> str:
    notice = entitlements.banner if entitlements and entitlements is not _FAILED else None
    if not notice:
        return "\n"
    plan = (
        f'<a href="{escape(url_for("licenses.plan", slug=membership.slug))}">See plan</a>'
        if can("billing.view")
        else ""
    )
    return (
        '\n\n<div class="banner banner-warn" role="status" data-testid="license-banner">'
        f"{escape(notice)}\n  {plan}\n</div>\n"
    )


def _brand_link(brand, urls: dict[str, Markup]) -> str:
    logo = (
        f'<img class="brand-logo" src="{escape(url_for("hosts.logo", sha=brand.logo_sha256))}"'
        ' alt="" height="24"> '
        if brand.logo_sha256
        else ""
    )
    name = brand.org_name if brand.logo_sha256 or brand.white_label else brand.product
    return f'<a class="brand" href="{urls["index"]}" data-testid="brand">{logo}{escape(name)}</a>'


def _topbar(brand, principal, membership, urls: dict[str, Markup]) -> str:
    text = "\n" + _brand_link(brand, urls) + "\n  "  # the partial began with a comment line
    if not principal:
        return text
    name = escape(principal.name)
    staff = f'<p><a href="{urls["console"]}">Staff console</a></p>' if principal.is_staff else ""
    return (
        f"{text}\n    {_switcher(membership)}\n"
        '    <details class="menu user-menu">\n'
        f'      <summary aria-label="Account menu for {name}"><span class="cut"'
        f' title="{name}">{name}</span></summary>\n'
        '      <div class="menu-panel">\n'
        f'        <p class="muted">{escape(principal.email)}</p>\n'
        f'        <p><a href="{urls["profile"]}">Your account</a></p>\n'
        f'        <p><a href="{urls["sessions"]}">Your sessions</a>'
        "</p>\n"
        f"        {staff}\n        "
    )


def _user_menu_end(csrf: str, urls: dict[str, Markup]) -> str:
    return (
        f'\n        <form method="post" action="{urls["logout"]}">\n'
        f'          <input type="hidden" name="csrf_token" value="{escape(csrf)}">\n'
        '          <button type="submit" class="link-button">Sign out</button>\n'
        "        </form>\n      </div>\n    </details>\n  "
    )


def current_path() -> str:
    """The path and query of this request, for ``next=`` links back to it."""
    return request.full_path.rstrip("?") if request else "/"


def _switcher(membership) -> str:
    if membership:
        name = escape(membership.name)
        role = escape(role_label(membership.role))
        label = escape(f"{membership.name} {role_label(membership.role)}")
        title, badge = f'title="{name}"', f'<span class="badge">{role}</span>'
    else:
        name = label = "Choose an organization"
        title = badge = ""
    url = escape(url_for("auth.switcher", next=current_path()))
    return (
        '<details class="menu switcher" id="org-switcher">\n  \n'
        f'  <summary aria-label="Switch organization, current: {label}">\n'
        f'    <span class="org-name cut" data-testid="active-org" {title}>{name}</span>\n'
        f"    {badge}\n  </summary>\n  \n"
        f'  <div class="menu-panel" hx-get="{url}"\n'
        '       hx-trigger="toggle from:#org-switcher once" hx-swap="innerHTML">\n    \n'
        f'    <a href="{url}">All organizations…</a>\n  </div>\n</details>'
    )


def _feature_check(entitlements):
    """``has_feature`` for the navigation's lock marks: no marks when the entitlements could
    not be read (never the reason an error page fails to render)."""
    if entitlements is _FAILED:
        return lambda _key: True
    if entitlements is None:
        return lambda _key: False
    return entitlements.has


def _nav(membership, url_key: tuple | None, entitlements) -> str:
    """The side navigation, kept per process under all it depends on: the URL key, the org's
    slug, the current endpoint, the viewer's permissions and which of the entries' features
    the org's plan lacks (the request's entitlements, read every request as before)."""
    endpoint = request.endpoint
    permissions = frozenset(membership.permissions)  # the same object when it is one
    has_feature = _feature_check(entitlements)
    locked = tuple(f for f in features_shown(permissions) if not has_feature(f))
    key = url_key and ("nav", url_key, membership.slug, endpoint, permissions, locked)
    return _kept_piece(key, lambda: _build_nav(membership, endpoint, has_feature))


def _build_nav(membership, endpoint: str | None, has_feature) -> str:
    home = escape(url_for("orgs.home", slug=membership.slug))
    current = 'aria-current="page"' if endpoint == "orgs.home" else ""
    lines = [f'<li><a href="{home}"\n             {current}>Home</a></li>\n      ']
    for item in visible_items(membership, endpoint, has_feature):
        mark = 'aria-current="page"' if item["current"] else ""
        lock = _LOCK if item["locked"] else ""
        lines.append(
            f'\n      <li><a href="{escape(item["url"])}" {mark}>'
            f"{escape(item['label'])}{lock}</a></li>\n      "
        )
    return (
        '\n  <nav class="sidenav" aria-label="Organization">\n    \n'
        '    <details class="nav-fold">\n    <summary>Menu</summary>\n    <ul>\n      '
        + "".join(lines)
        + "\n    </ul>\n    </details>\n  </nav>\n  "
    )


def _flashes() -> str:
    return "".join(
        f'\n        <div class="flash flash-{escape(category)}" role="status">'
        f"{escape(message)}</div>\n      "
        for category, message in get_flashed_messages(with_categories=True)
    )


def _main_start(membership, url_key: tuple | None, entitlements) -> str:
    nav = _nav(membership, url_key, entitlements) if membership else ""
    return (
        f'<div class="layout{"" if membership else " no-nav"}">\n  {nav}\n'
        f'  <main id="main" tabindex="-1">\n    \n      {_flashes()}\n    \n    '
    )
