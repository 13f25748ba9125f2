"""Where to land after a switch: the same page in the new org when it exists there.

"Exists there" means: the URL matches an org page with no object in it (a member's or a
key's page is not "the same page" in another org) and the user's role in the new org may
open it. Otherwise the new org's home.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from dashboard.permissions import AUTHENTICATED, PUBLIC


def same_page_in_org(next_path: str | None, new_slug: str, permissions=None) -> str:
    home = url_for("orgs.home", slug=new_slug)
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return home
    parts = urlsplit(next_path)
    segments = parts.path.split("/")
    if len(segments) < 3 or segments[1] != "o":
        return home
    segments[2] = new_slug
    candidate = "/".join(segments)
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, values = adapter.match(candidate, method="GET")
    except (HTTPException, RequestRedirect):
        return home
    if set(values) - {"slug"}:
        return home
    rule = getattr(current_app.view_functions.get(endpoint), "access_rule", None)
    guarded = rule not in (PUBLIC, AUTHENTICATED, None)
    if permissions is not None and guarded and rule not in permissions:
        return home
    return candidate + (f"?{parts.query}" if parts.query else "")
