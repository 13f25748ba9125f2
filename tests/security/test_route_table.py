"""Every route declares who may call it; nothing is left unguarded by omission."""

from __future__ import annotations

from dashboard.permissions import (
    ALL_API_SCOPES,
    ALL_PERMISSIONS,
    AUTHENTICATED,
    PARTNER,
    PUBLIC,
    SCIM_TOKEN,
    STAFF,
)

API_SCOPE_RULES = {s.value for s in ALL_API_SCOPES}
KNOWN_RULES = (
    {PUBLIC, AUTHENTICATED, PARTNER, STAFF, SCIM_TOKEN}
    | {p.value for p in ALL_PERMISSIONS}
    | API_SCOPE_RULES
)
# Endpoints Flask itself provides.
FRAMEWORK_ENDPOINTS = {"static"}


def test_every_endpoint_has_an_access_rule(app):
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FRAMEWORK_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        access = getattr(view, "access_rule", None)
        if access not in KNOWN_RULES:
            missing.append((rule.rule, rule.endpoint, access))
    assert missing == []


def test_org_scoped_routes_require_a_permission(app):
    loose = [
        (rule.rule, app.view_functions[rule.endpoint].access_rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/o/<slug>")
        and app.view_functions[rule.endpoint].access_rule in {PUBLIC, AUTHENTICATED}
    ]
    assert loose == []


def test_the_admin_area_is_staff_only_and_staff_routes_live_there(app):
    misplaced = [
        (rule.rule, app.view_functions[rule.endpoint].access_rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in FRAMEWORK_ENDPOINTS
        and (rule.rule.startswith("/admin") != (
            app.view_functions[rule.endpoint].access_rule == STAFF))
    ]
    assert misplaced == []


def test_api_routes_require_a_scope_and_browser_routes_never_use_one(app):
    """/api/ routes are guarded by api_scope (Bearer credential of one org), except the
    published spec and its docs page; a scope never guards a browser route."""
    public_api = {"/api/v1/openapi.json", "/api/v1/docs"}
    # Speaks for a person, so only a user's access token fits (the view checks for one).
    user_token_only = {"/api/v1/me"}
    wrong = []
    for rule in app.url_map.iter_rules():
        access = getattr(app.view_functions[rule.endpoint], "access_rule", None)
        if rule.rule in user_token_only:
            if access != AUTHENTICATED:
                wrong.append((rule.rule, access))
        elif rule.rule.startswith("/api/"):
            expected_public = rule.rule in public_api
            if (access == PUBLIC) != expected_public or (
                not expected_public and access not in API_SCOPE_RULES
            ):
                wrong.append((rule.rule, access))
        elif access in API_SCOPE_RULES:
            wrong.append((rule.rule, access))
    assert wrong == []
