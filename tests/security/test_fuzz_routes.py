"""Property-based fuzzing (hypothesis) of every route in the URL map: no input gets a 5xx.

Every rule of ``app.url_map`` (a new route is fuzzed the day it lands) is called, as the
signed-in owner of an org and anonymously, with generated query strings, form bodies and
JSON bodies: control characters, huge and negative numbers, NaN and Infinity, deep nesting,
invalid UTF-8, markup, long text, wrong types. Each request starts from what the route
really takes (the fields of the forms that post to it, scraped from the app's own pages; the
probe registry's bodies for JSON routes) and mutates some of it, so generated values reach
the route's own validation and services, not only the CSRF check.

The property: the answer is below 500 and never a stack trace; a refusal of a JSON route is
``{"error": {...}}``. URL parameters and the extra credentials (API key, partner token) come
from tests/security/probe_registry.py, as for the isolation prober.

Budget: the ``fuzz-ci`` profile (few examples per route, derandomized, so CI is
reproducible and takes well under a minute). ``TENANTDESK_FUZZ=fuzz-long`` runs a random,
much longer search locally: ``TENANTDESK_FUZZ=fuzz-long pytest tests/security/test_fuzz_routes.py``.
"""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from wtforms.fields.core import UnboundField

from tests import factories
from tests.helpers import csrf_token
from tests.security import probe_registry
from tests.security.probe_registry import AUTH_SCHEMES, FORM_DATA, GENERIC_FORM, JSON_PREFIXES
from tests.security.prober import ProbeClient, _build, _methods

settings.register_profile(
    "fuzz-ci", max_examples=6, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "fuzz-long", max_examples=150, deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)
PROFILE = settings.get_profile(os.environ.get("TENANTDESK_FUZZ", "fuzz-ci"))

# Not fuzzed, each with the reason (the list is checked against the URL map below).
SKIPPED = {
    "static": "Flask's static files: no input reaches code of ours",
    "auth.logout": "ends the fuzzing session on every call; it takes no input but the CSRF token",
}

# ----------------------------------------------------------------------- what to generate
# Values that pass the input guard and must be handled by the route itself, and a few that
# the guard refuses (control characters): most examples get past the guard on purpose.
TRICKY = [
    "", " ", "\t\n\r", "\u2028", "\ufeff", "99999999999999999999999", "-99999999999999999999",
    "9223372036854775808", "2147483648", "-1", "0", "1e400", "NaN", "Infinity", "true", "null",
    "[]", "{}", "%00", "%", "'; DROP TABLE users; --", "<script>alert(1)</script>", "{{7*7}}",
    "../../../etc/passwd", "x" * 5000, "\U0001f600" * 50, "owner", "admin", "member",
    "api_calls", "seats", "2026-13-45", "2026-01-31", "2026-01-31T00:00:00Z",
    "00000000-0000-0000-0000-000000000000", "not-a-uuid", "a@b", "x@example.com",
    "http://127.0.0.1:9/", "/o/", "//evil.example/",
]
CONTROL = ["\x00", "a\x00b", "\x01", "\x1b[31m", "\x7f", "\u0085"]
_CHARS = st.characters(exclude_categories=("Cs", "Cc"))  # lone surrogates cannot be UTF-8
TEXT = st.one_of(st.text(_CHARS, max_size=40), st.sampled_from(TRICKY),
                 st.integers().map(str), st.sampled_from(CONTROL))
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
RAW_JSON = [
    ('{"a":' * 5000 + "1" + "}" * 5000).encode(), ("[" * 3000 + "]" * 3000).encode(),
    b"\xff\xfe\x00{", b"{", b"", b"null", b"[]", b'"text"', b"1e999", b'{"a": NaN}',
    b'{"a": 1, "a": 2}', b'{"\\u0000": 1}', b'{"a": "\\ud800"}',
]


def _ours(base: type) -> list[type]:
    """Every subclass of ``base`` defined in the application package."""
    found, pending = [], list(base.__subclasses__())
    while pending:
        klass = pending.pop()
        pending.extend(klass.__subclasses__())
        if klass.__module__.startswith("dashboard."):
            found.append(klass)
    return found


def _form_field_names() -> set[str]:
    return {name for form in _ours(FlaskForm) for klass in form.__mro__
            for name, value in vars(klass).items() if isinstance(value, UnboundField)}


def _model_field_names() -> set[str]:
    return {info.alias or name for model in _ours(BaseModel)
            for name, info in model.model_fields.items()}


# ------------------------------------------------------------------- forms on the app's pages
class _Forms(HTMLParser):
    """Forms of one page: action path -> {field: first value} (hidden values, options...)."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: dict[str, dict[str, str]] = {}
        self.current: dict[str, str] | None = None
        self.select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            action = urlsplit(attrs.get("action") or self.page_path).path
            self.current = self.forms.setdefault(action, {})
        elif self.current is None:
            return
        elif tag in ("input", "textarea") and attrs.get("name"):
            if attrs.get("type") in ("checkbox", "radio") and attrs["name"] in self.current:
                return
            self.current.setdefault(attrs["name"], attrs.get("value") or "")
        elif tag == "select" and attrs.get("name"):
            self.select = attrs["name"]
            self.current.setdefault(self.select, "")
        elif tag == "option" and self.select and not self.current.get(self.select):
            self.current[self.select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None


def scrape_forms(app, client, urls: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for url in urls:
        response = client.client.get(url)
        if response.mimetype == "text/html":
            parser = _Forms(urlsplit(url).path)
            parser.feed(response.get_data(as_text=True))
            for action, fields in parser.forms.items():
                found.setdefault(action, {}).update(fields)
        response.close()
        client.heal()
    return found


# ---------------------------------------------------------------------------- the targets
class Target:
    def __init__(self, rule, method: str, url: str, base: dict) -> None:
        self.rule, self.method, self.url, self.base = rule, method, url, base
        self.json = url.startswith(JSON_PREFIXES) or rule.endpoint == "usage.ingest"

    def __repr__(self) -> str:
        return f"{self.method} {self.rule.rule}"


def fuzzed_rules(app) -> list:
    return [r for r in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
            if r.endpoint not in SKIPPED]


def _value(name: str, org) -> str:
    # Capability URLs (an invitation's token) have no provider: any token will do here.
    if name in probe_registry.PROVIDERS:
        return probe_registry.value_for(name, org)
    return f"fuzz-{name}"


@pytest.fixture(scope="module")
def world(app):
    """Org A (owner signed in), its objects for every URL parameter, and the forms scraped
    from every page A's owner can open."""
    a = probe_registry.make_probe_org("A", app)
    b = probe_registry.make_probe_org("B", app)
    owner = ProbeClient(app, a)
    urls = {r.endpoint: _build(r, {p: _value(p, a) for p in r.arguments})
            for r in fuzzed_rules(app)}
    pages = [urls[r.endpoint] for r in fuzzed_rules(app) if "GET" in _methods(r)
             and not urls[r.endpoint].startswith(JSON_PREFIXES)]
    forms = scrape_forms(app, owner, pages)
    targets = []
    for rule in fuzzed_rules(app):
        url = urls[rule.endpoint]
        for method in _methods(rule):
            custom = FORM_DATA.get(rule.endpoint, lambda a, b: {})(a, b)
            if method == "GET":
                base: dict = {}
            elif url.startswith(JSON_PREFIXES):
                base = custom
            else:
                base = {**GENERIC_FORM, **forms.get(urlsplit(url).path, {}), **custom}
                base.pop("csrf_token", None)
            targets.append(Target(rule, method, url, base))
    names = sorted(_form_field_names() | _model_field_names() | set(GENERIC_FORM)
                   | {n for fields in forms.values() for n in fields} - {"csrf_token"})
    return {"a": a, "owner": owner, "targets": targets, "names": names}


def _request(names: list[str], target: Target):
    key = st.one_of(st.sampled_from(names), st.text(_CHARS, max_size=12))
    query = st.dictionaries(key, TEXT, max_size=3)
    if target.method == "GET":
        return st.fixed_dictionaries({"query": query})
    if target.json:
        value = st.recursive(JSON_LEAF, lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(key, inner, max_size=3)),
            max_leaves=10)
        body = st.one_of(
            st.dictionaries(key, value, max_size=4).map(lambda m: {**target.base, **m}),
            value,
            st.sampled_from(RAW_JSON),
        )
    else:
        body = st.dictionaries(key, st.one_of(TEXT, st.lists(TEXT, max_size=3)),
                               max_size=4).map(lambda m: {**target.base, **m})
    return st.fixed_dictionaries({"query": query, "body": body})


def send(client, target: Target, case: dict, csrf: str, headers: dict):
    kwargs: dict = {"method": target.method, "query_string": case["query"],
                    "headers": {"X-CSRFToken": csrf, **headers}}
    body = case.get("body")
    if target.json and body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        kwargs.update(data=raw, content_type="application/json")
    elif body is not None:
        kwargs["data"] = {"csrf_token": csrf, **body}
    return client.open(target.url, **kwargs)


def judge(target: Target, case: dict, response) -> None:
    shown = f"{target} with {case!r}"[:600]
    assert response.status_code < 500, f"{response.status_code} from {shown}"
    data = response.get_data()
    assert b"Traceback (most recent call last)" not in data, shown
    if target.json and response.status_code >= 400 and response.mimetype == "application/json":
        assert "error" in json.loads(data), shown


def test_the_skip_list_names_real_routes(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(SKIPPED) <= endpoints


def _heal(owner: ProbeClient) -> None:
    """Back to a signed-in owner. Generated sign-in attempts (forms that post the owner's
    email with a wrong password) count against the per-email login limit, and every sign-in
    against the per-address one: forget both, as another hour would, before signing in
    again (rate limits are not what this test is about)."""
    if not owner.still_in_a():
        factories.execute("DELETE FROM login_attempts")
        for limiter in owner.app.extensions.get("limiter", ()):
            limiter.reset()
        owner.heal()


def fuzzer(names, target: Target, client, csrf, headers: dict, heal):
    """A hypothesis test of one route: generated requests, each judged, then ``heal()``."""

    @given(case=_request(names, target))
    @settings(PROFILE)
    def exercise(case):
        response = send(client(), target, case, csrf(), headers)
        try:
            judge(target, case, response)
        finally:
            response.close()
            if target.method != "GET":
                heal()

    return exercise


@pytest.mark.parametrize("who", ["owner", "anonymous"])
def test_no_generated_input_gets_a_server_error(app, world, who):
    owner: ProbeClient = world["owner"]
    anonymous = app.test_client()
    anonymous_csrf = csrf_token(anonymous, "/login")
    problems = []
    for target in world["targets"]:
        if who == "anonymous":
            exercise = fuzzer(world["names"], target, lambda: anonymous, lambda: anonymous_csrf, {},
                              lambda: None)
        else:
            headers = {}
            for prefix, scheme in AUTH_SCHEMES.items():
                if target.url.startswith(prefix):
                    key = f"scheme:{prefix}"
                    if key not in owner.auth_headers:
                        owner.auth_headers[key] = scheme(world["a"])
                    headers = owner.auth_headers[key]
            exercise = fuzzer(world["names"], target, lambda: owner.client, lambda: owner.csrf,
                              headers, lambda: _heal(owner))
        try:
            exercise()
        except AssertionError as exc:  # every route's first failure, then one report
            problems.append(str(exc).splitlines()[0])
    assert not problems, "\n".join(problems)
