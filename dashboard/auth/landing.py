"""Where to land after a switch: the same page in the new org when it exists there."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect


def same_page_in_org(next_path: str | None, new_slug: str) -> str:
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
    # Pages about one object (a member, a key) are not "the same page" in another org.
    if set(values) - {"slug"}:
        return home
    return candidate + (f"?{parts.query}" if parts.query else "")
