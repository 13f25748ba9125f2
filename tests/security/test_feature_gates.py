"""Every route behind ``requires_feature``, found by walking the URL map, is refused with a 403
and changes nothing while the org lacks the feature, and works once it has it.

New gated routes (SSO, SCIM, custom roles, audit export, ...) are covered automatically. A
route that cannot be called with a browser session (e.g. an API key route) adds a caller to
``CALLERS`` below.
"""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter, UUIDConverter

from dashboard.licenses.features import Feature
from dashboard.licenses.web import GATED_VIEWS
from tests import factories
from tests.helpers import csrf_token, login
from tests.security.test_schema_guard import tenant_tables


def gated_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        feature = getattr(app.view_functions[rule.endpoint], "required_feature", None)
        if feature:
            yield rule, feature


def url_for_rule(rule, org) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if name == "slug":
            values[name] = org.slug
        elif isinstance(converter, UUIDConverter):
            values[name] = uuid.uuid4()
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            values[name] = "x"
    _, path = rule.build(values)
    return path


def browser_call(client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    token = csrf_token(client, "/switcher")
    return client.open(path, method=method, data={"csrf_token": token},
                       headers={"X-CSRFToken": token})


# Path prefix -> how to call it as the org's owner. Longest prefix wins; "" is the default.
CALLERS = {"": browser_call}


def call(client, method, path):
    prefix = max((p for p in CALLERS if path.startswith(p)), key=len)
    return CALLERS[prefix](client, method, path)


def snapshot(admin_engine, org) -> dict[str, str]:
    """A digest of every row of ``org`` in every tenant table (read as superuser)."""
    from sqlalchemy import text

    digests = {}
    with admin_engine.connect() as conn:
        for table in tenant_tables(admin_engine):
            column = "id" if table == "organizations" else "org_id"
            digests[table] = conn.execute(text(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f" FROM {table} t WHERE {column} = :o"), {"o": org.id}).scalar()
    return digests


def refused_for_feature(response) -> bool:
    if response.status_code != 403:
        return False
    if response.is_json:
        return response.get_json()["error"]["code"] == "feature_not_included"
    return 'data-testid="feature-not-included"' in response.get_data(as_text=True)


def methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_there_is_at_least_one_gated_route(app):
    assert list(gated_rules(app)), "gate an example route until real features land"


def test_every_gate_is_on_a_routed_view(app):
    """A gate written above @bp.route would guard nothing and never show in the URL map."""
    routed = set()
    for view in app.view_functions.values():
        while view is not None:  # the routed view and every decorator layer beneath it
            routed.add(view)
            view = getattr(view, "__wrapped__", None)
    stray = [v.__qualname__ for v in GATED_VIEWS
             if v.__module__.startswith("dashboard.") and v not in routed]
    assert stray == []


def test_gated_routes_are_org_scoped_and_permission_guarded(app):
    from dashboard.permissions import ALL_PERMISSIONS

    for rule, feature in gated_rules(app):
        assert Feature(feature)
        rule_name = app.view_functions[rule.endpoint].access_rule
        assert rule_name in {p.value for p in ALL_PERMISSIONS}, rule.rule


@pytest.mark.parametrize("how", ["not in plan", "overridden off"])
def test_without_the_feature_every_gated_route_is_refused_and_changes_nothing(
    app, client, admin_engine, how
):
    org, people = factories.org_with_members(owner="owner", admin="admin")
    if how == "overridden off":
        factories.put_on_plan(org, "enterprise")
        for feature in Feature:
            factories.FeatureOverrideFactory(org_id=org.id, feature=feature.value,
                                             enabled=False, reason="test: off")
    login(client, people["owner"])
    before = snapshot(admin_engine, org)
    checked = 0
    for rule, _feature in gated_rules(app):
        for method in methods(rule):
            response = call(client, method, url_for_rule(rule, org))
            assert refused_for_feature(response), (method, rule.rule, response.status_code)
            checked += 1
    assert checked
    assert snapshot(admin_engine, org) == before


def test_with_the_feature_every_gated_route_lets_the_call_through(app, client):
    org, people = factories.org_with_members(owner="owner")
    for feature in Feature:
        factories.FeatureOverrideFactory(org_id=org.id, feature=feature.value, enabled=True,
                                         reason="test: on")
    login(client, people["owner"])
    for rule, _feature in gated_rules(app):
        for method in methods(rule):
            response = call(client, method, url_for_rule(rule, org))
            assert not refused_for_feature(response), (method, rule.rule)
            assert response.status_code < 500, (method, rule.rule)


@pytest.mark.parametrize("plan", ["starter", "growth", "scale", "enterprise"])
def test_a_plan_that_includes_the_feature_opens_the_example_route(client, plan):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, plan)
    login(client, people["owner"])
    response = client.get(f"/o/{org.slug}/plan/entitlements.json")
    assert response.status_code == 200
    assert response.get_json()["plan"] == plan


def test_the_403_page_names_the_owners_and_admins_to_ask(client):
    org, people = factories.org_with_members(owner="owner", admin="admin", bob="member")
    factories.execute("UPDATE memberships SET role = 'admin' WHERE user_id = :u",
                      u=people["bob"].id)  # bob may see billing, still not the feature
    login(client, people["bob"])
    response = client.get(f"/o/{org.slug}/plan/entitlements.json")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "API access is not included in your organization" in page
    assert people["owner"].email in page and people["admin"].email in page
    assert "Free plan" in page


def test_a_gated_api_call_answers_json(database_urls, tmp_path):
    from flask import Blueprint

    from dashboard.licenses.web import requires_feature
    from dashboard.permissions import Permission, requires
    from tests.conftest import make_app

    probe = Blueprint("probe", __name__)

    @probe.route("/api/v1/_probe/sso")
    @requires(Permission.ORG_VIEW)
    @requires_feature(Feature.SSO)
    def sso_probe():
        return {"ok": True}

    app = make_app(database_urls, tmp_path)
    app.register_blueprint(probe)
    try:
        org, people = factories.org_with_members(owner="owner")
        client = app.test_client()
        login(client, people["owner"])
        response = client.get("/api/v1/_probe/sso")
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "feature_not_included"
        assert "Single sign-on is not included" in response.get_json()["error"]["message"]
        factories.put_on_plan(org, "growth")
        assert client.get("/api/v1/_probe/sso").get_json() == {"ok": True}
    finally:
        app.extensions["tenantdesk.db"].dispose()
