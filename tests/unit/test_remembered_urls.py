"""URLs built once per (endpoint, values, what the request is bound to) (dashboard/flask_app.py):
the same answers as Flask's own url_for, whatever host, script root or scheme asks."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask, g, url_for
from werkzeug.routing import BuildError

from dashboard import flask_app


def _routes(app: Flask) -> Flask:
    app.add_url_rule("/o/<slug>/members", "members", lambda slug: "")
    app.add_url_rule("/o/<slug>/members/<uuid:user_id>", "member", lambda slug, user_id: "")
    app.add_url_rule("/plain", "plain", lambda: "")
    return app


REMEMBERED = _routes(flask_app.App("remembered"))
STOCK = _routes(Flask("stock"))
MEMBER = uuid.UUID("8d0c1513-5b47-3f4b-62be-c78ba408306c")
CALLS = [
    ("members", {"slug": "acme"}),
    ("members", {"slug": "acme", "q": "ada", "page": 2}),
    ("members", {"page": 2, "q": "ada", "slug": "acme"}),  # another query string order
    ("members", {"slug": "acme", "_external": True}),
    ("member", {"slug": "acme", "user_id": MEMBER}),
    ("member", {"slug": "ácme ü/x", "user_id": MEMBER, "_anchor": "role"}),
    ("plain", {"next": ["a", "b"]}),  # a list goes the usual way
    ("plain", {}),
]
BINDINGS = [
    {"base_url": "http://tenantdesk.test/"},
    {"base_url": "http://acme.tenantdesk.test/"},
    {"base_url": "https://tenantdesk.test/"},
    {"base_url": "http://tenantdesk.test/prefix/"},
]


def _built(app: Flask, binding: dict) -> list[str]:
    with app.test_request_context("/", **binding):
        return [url_for(endpoint, **values) for endpoint, values in CALLS * 2]


@pytest.mark.parametrize("binding", BINDINGS, ids=lambda b: b["base_url"])
def test_every_url_is_the_one_flask_builds(binding):
    assert _built(REMEMBERED, binding) == _built(STOCK, binding)


def test_hosts_script_roots_and_schemes_never_share_an_answer():
    answers = [_built(REMEMBERED, binding) for binding in BINDINGS * 2]
    assert answers[:4] == answers[4:]
    externals = {answer[3] for answer in answers}
    assert externals == {"http://tenantdesk.test/o/acme/members",
                         "http://acme.tenantdesk.test/o/acme/members",
                         "https://tenantdesk.test/o/acme/members",
                         "http://tenantdesk.test/prefix/o/acme/members"}


def test_a_url_is_built_once_then_remembered():
    flask_app._built_urls.clear()
    _built(REMEMBERED, BINDINGS[0])
    kept = len(flask_app._built_urls)
    assert 0 < kept < len(CALLS)  # the list value is never kept
    _built(REMEMBERED, BINDINGS[0])
    assert len(flask_app._built_urls) == kept


def test_a_url_that_cannot_be_built_fails_as_in_flask():
    with REMEMBERED.test_request_context("/"):
        with pytest.raises(BuildError):
            url_for("members")  # no slug
        with pytest.raises(BuildError):
            url_for("nowhere")


def _with_slug_default(app: Flask, declared: bool) -> Flask:
    """The org pages' default: url_for('members') inside an org keeps the org's slug."""
    def keep_slug(endpoint, values):
        if "slug" not in values and g.get("org_slug") and \
                app.url_map.is_endpoint_expecting(endpoint, "slug"):
            values["slug"] = g.org_slug

    if declared:
        keep_slug.url_default_reads = ("org_slug",)
    app.url_defaults(keep_slug)
    app.add_url_rule("/", "index", lambda: "")
    return app


def _served(app: Flask) -> Flask:
    app.test_client().get("/")  # Flask's url_for memory starts once the app serves
    return app


SLUGGED = _served(_with_slug_default(_routes(flask_app.App("slugged")), declared=True))
UNDECLARED = _served(_with_slug_default(_routes(flask_app.App("undeclared")), declared=False))
STOCK_SLUGGED = _served(_with_slug_default(_routes(Flask("stock-slugged")), declared=True))
SLUG_CALLS = [("members", {}), ("members", {"q": "ada"}), ("member", {"user_id": MEMBER}),
              ("members", {"slug": "other"}), ("plain", {}), ("members", {"_anchor": "top"})]


def _with_slugs(app: Flask, binding: dict) -> list[str]:
    answers = []
    for slug in ("acme", "globex", None, "acme"):
        with app.test_request_context("/", **binding):
            if slug:
                g.org_slug = slug
            for endpoint, values in SLUG_CALLS:
                try:
                    answers.append(url_for(endpoint, **values))
                except BuildError:
                    answers.append("BuildError")
    return answers


@pytest.mark.parametrize("binding", BINDINGS, ids=lambda b: b["base_url"])
def test_url_for_keys_on_what_the_url_defaults_read(binding):
    """App.url_for remembers URLs per value of what the default functions read (the org's
    slug): each org's pages link to that org, exactly as Flask builds them."""
    flask_app._urls_for.clear()
    expected = _with_slugs(STOCK_SLUGGED, binding)
    assert _with_slugs(SLUGGED, binding) == expected
    assert _with_slugs(SLUGGED, binding) == expected  # now from memory
    assert flask_app._urls_for
    assert "/o/acme/members" in expected[0] and "/o/globex/members" in expected[6]
    assert expected[12] == "BuildError"  # no org, no slug: not remembered as a URL


def test_url_for_remembers_nothing_while_a_default_function_does_not_say_what_it_reads():
    flask_app._urls_for.clear()
    assert _with_slugs(UNDECLARED, BINDINGS[0]) == _with_slugs(STOCK_SLUGGED, BINDINGS[0])
    assert not flask_app._urls_for
