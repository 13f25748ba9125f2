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


# App.url_for's own memo: keyed on the state a url_defaults hook reads (the org's slug).
def _with_slug_default(app: Flask, keyed: bool) -> Flask:
    def keep_slug(endpoint, values):
        if "slug" not in values and g.get("org_slug") and app.url_map.is_endpoint_expecting(
                endpoint, "slug"):
            values["slug"] = g.org_slug

    if keyed:
        app.url_defaults_keyed(lambda request_g: request_g.get("org_slug"))(keep_slug)
    else:
        app.url_defaults(keep_slug)
    _routes(app)
    app.test_client().get("/plain")  # serving: no hook can be added any more
    return app


KEYED = _with_slug_default(flask_app.App("keyed"), keyed=True)
KEYED_STOCK = _with_slug_default(Flask("keyed-stock"), keyed=False)
SLUG_CALLS = [("members", {}), ("members", {"q": "ada"}), ("member", {"user_id": MEMBER}),
              ("members", {"slug": "other"}), ("plain", {})]


def _built_in(app: Flask, binding: dict, org_slug: str | None) -> list[str]:
    with app.test_request_context("/", **binding):
        if org_slug:
            g.org_slug = org_slug
        return [url_for(endpoint, **values) for endpoint, values in SLUG_CALLS * 2]


@pytest.mark.parametrize("binding", BINDINGS, ids=lambda b: b["base_url"])
def test_remembered_urls_follow_the_org_and_the_binding(binding):
    for org_slug in ("acme", "globex", "acme", None):
        if org_slug is None:
            with pytest.raises(BuildError):  # no org, no slug: as Flask
                _built_in(KEYED, binding, org_slug)
            continue
        assert _built_in(KEYED, binding, org_slug) == _built_in(KEYED_STOCK, binding, org_slug)
    assert KEYED._url_memo_usable()


def test_a_hook_that_is_not_keyed_turns_the_memo_off():
    app = _with_slug_default(flask_app.App("unkeyed"), keyed=False)
    assert not app._url_memo_usable()
    assert _built_in(app, BINDINGS[0], "acme") == _built_in(KEYED_STOCK, BINDINGS[0], "acme")
