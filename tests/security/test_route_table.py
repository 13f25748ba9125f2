"""Every route declares who may call it; nothing is left unguarded by omission."""

from __future__ import annotations

from dashboard.permissions import ALL_PERMISSIONS, AUTHENTICATED, PARTNER, PUBLIC, STAFF

KNOWN_RULES = {PUBLIC, AUTHENTICATED, PARTNER, STAFF} | {p.value for p in ALL_PERMISSIONS}
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
