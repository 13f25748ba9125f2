"""The plan catalogue sells only what the code enforces (issue 21).

For every feature in the ``features`` table this test finds where it is enforced:

- routes gated with ``@requires_feature`` (read from the URL map), and
- the other checks (API credentials, SCIM tokens, worker deliveries, long usage history...),
  which declare themselves with ``dashboard.licenses.enforcement.point`` and get a probe in
  ``PROBES`` below.

A feature with no enforcement point fails, so does a point without a probe. Each point is then
called with only that one feature switched off (refused) and on (works) on an otherwise
all-inclusive org, so a check on the wrong feature would fail too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from dashboard.licenses.enforcement import POINTS
from dashboard.licenses.features import Feature
from dashboard.worker import Worker
from tests import factories
from tests.helpers import csrf_token, login, post
from tests.security.test_feature_gates import call, gated_rules, methods, refused_for_feature
from tests.security.test_feature_gates import url_for_rule as gated_url
from tests.support.events import audit_in
from tests.support.receiver import Receiver


@dataclass
class Env:
    app: object
    client: object
    org: object
    people: dict
    receiver: Receiver


def org_with_only(feature: Feature, enabled: bool):
    """An enterprise org with every feature on except ``feature``, which is ``enabled``."""
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")
    for each in Feature:
        factories.FeatureOverrideFactory(org_id=org.id, feature=each.value,
                                         enabled=enabled if each is feature else True,
                                         reason="catalogue test")
    return org, people


def set_feature(org, feature: Feature, enabled: bool) -> None:
    factories.execute("UPDATE feature_overrides SET enabled = :e WHERE org_id = :o"
                      " AND feature = :f", e=enabled, o=org.id, f=feature.value)


# ------------------------------------------------------------------------------ the probes
# Each probe uses its point once and answers True when the call went through, False when it
# was refused for the plan; anything else (a 500, a refusal for another reason) fails.


def _api_credentials(env: Env) -> bool:
    key, _ = factories.api_key(env.org)
    response = env.client.get("/api/v1/org", headers={"Authorization": f"Bearer {key}"})
    if response.status_code == 403:
        assert response.get_json()["error"]["code"] == "feature_not_included"
        return False
    assert response.status_code == 200, response.get_data(as_text=True)
    return True


def _scim_protocol(env: Env) -> bool:
    token, _ = factories.scim_token(env.org)
    response = env.client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 403:
        assert "does not include SCIM" in response.get_data(as_text=True)
        return False
    assert response.status_code == 200, response.get_data(as_text=True)
    return True


def _api_webhook_create(env: Env) -> bool:
    key, _ = factories.api_key(env.org, scopes=["webhooks:write"])
    url = env.receiver.url(f"/api/{env.org.slug}")
    response = env.client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {key}"},
                               json={"url": url})
    count = factories.execute("SELECT count(*) FROM event_destinations WHERE org_id = :o"
                              " AND url = :u", o=env.org.id, u=url).scalar()
    if response.status_code == 403:
        assert response.get_json()["error"]["code"] == "feature_not_included"
        assert count == 0
        return False
    assert response.status_code == 201, response.get_data(as_text=True)
    return count == 1


def _queued_deliveries(env: Env, feature: Feature, path: str, form: dict) -> bool:
    """Make the destination while the feature is on, then run the worker once with the
    feature as the test set it: how many deliveries did an audit event queue?"""
    wanted = factories.execute("SELECT enabled FROM feature_overrides WHERE org_id = :o"
                               " AND feature = :f", o=env.org.id, f=feature.value).scalar()
    set_feature(env.org, feature, True)
    login(env.client, env.people["owner"])
    made = post(env.client, f"/o/{env.org.slug}/{path}", form)
    assert made.status_code in (201, 303), made.get_data(as_text=True)
    set_feature(env.org, feature, wanted)
    # member.role_change: an action the webhook catalogue turns into an event
    audit_in(env.app, env.org, env.people["owner"], action="member.role_change")
    Worker(env.app, name="catalogue-test").run_once()
    queued = factories.execute("SELECT count(*) FROM event_deliveries WHERE org_id = :o",
                               o=env.org.id).scalar()
    return queued > 0


def _webhook_delivery(env: Env) -> bool:
    return _queued_deliveries(env, Feature.WEBHOOKS, "webhooks",
                              {"url": env.receiver.url(f"/hook/{env.org.slug}")})


def _audit_stream_delivery(env: Env) -> bool:
    return _queued_deliveries(env, Feature.AUDIT_STREAMING, "audit-streams",
                              {"kind": "stream_https",
                               "url": env.receiver.url(f"/siem/{env.org.slug}")})


def _sso_sign_in(env: Env) -> bool:
    """An SSO connection made while the plan had SSO: can people still sign in through it?"""
    from dashboard.sso import saml
    from tests.support.saml_idp import TestIdP
    from tests.support.sso import idp_redirect

    idp = TestIdP()
    config = saml.IdpConfig(idp.entity_id, idp.sso_url, (idp.cert_b64,)).as_config()
    conn = factories.SsoConnectionFactory(org_id=env.org.id, kind="saml", config=config)
    response = env.client.post(f"/sso/start/{conn.id}",
                               data={"csrf_token": csrf_token(env.client, "/login")})
    if response.status_code == 403:
        assert "not included in this organization" in response.get_data(as_text=True)
        return False
    return idp_redirect(response).startswith(idp.sso_url)


def _usage_long_history(env: Env) -> bool:
    login(env.client, env.people["owner"])
    answers = [env.client.get(f"/o/{env.org.slug}/usage?range=90"),
               env.client.get(f"/o/{env.org.slug}/usage/data.json?range=365"),
               env.client.get(f"/o/{env.org.slug}/usage.csv?range=365")]
    refused = [refused_for_feature(r) for r in answers]
    assert len(set(refused)) == 1, [r.status_code for r in answers]
    if not refused[0]:
        assert all(r.status_code == 200 for r in answers)
        # the basic history stays open on every plan
    assert env.client.get(f"/o/{env.org.slug}/usage?range=30").status_code == 200
    return not refused[0]


PROBES: dict[str, Callable[[Env], bool]] = {
    "api-credentials": _api_credentials,
    "scim-protocol": _scim_protocol,
    "api-webhook-create": _api_webhook_create,
    "webhook-delivery": _webhook_delivery,
    "audit-stream-delivery": _audit_stream_delivery,
    "usage-long-history": _usage_long_history,
    "sso-sign-in": _sso_sign_in,
}


# ------------------------------------------------------------------------------- the tests


def catalogue(admin_engine) -> set[str]:
    with admin_engine.connect() as conn:
        return set(conn.execute(text("SELECT key FROM features")).scalars())


def enforcement_points(app) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rule, feature in gated_rules(app):
        for method in methods(rule):
            found.setdefault(feature, []).append(f"route {method} {rule.rule}")
    for point in POINTS.values():
        found.setdefault(point.feature.value, []).append(f"point {point.name}")
    return found


def test_the_catalogue_is_the_feature_vocabulary(admin_engine):
    assert catalogue(admin_engine) == {f.value for f in Feature}


def test_every_feature_in_the_catalogue_is_enforced_somewhere(app, admin_engine):
    points = enforcement_points(app)
    unenforced = sorted(catalogue(admin_engine) - set(points))
    assert unenforced == [], f"sold but checked nowhere: {unenforced}"


def test_every_enforcement_point_has_a_probe():
    assert set(POINTS) == set(PROBES)


@pytest.mark.parametrize("feature", list(Feature), ids=lambda f: f.value)
def test_each_point_refuses_without_its_feature_and_works_with_it(
    app, client, receiver, feature
):
    rules = [(rule, m) for rule, f in gated_rules(app) if f == feature.value
             for m in methods(rule)]
    names = [p.name for p in POINTS.values() if p.feature is feature]
    assert rules or names, f"{feature.value} is enforced nowhere"
    for enabled in (False, True):
        org, people = org_with_only(feature, enabled)
        login(client, people["owner"])
        for rule, method in rules:
            response = call(client, method, gated_url(rule, org))
            assert refused_for_feature(response) is not enabled, (enabled, method, rule.rule)
            assert response.status_code < 500, (method, rule.rule)
        for name in names:
            env = Env(app, app.test_client(), org, people, receiver)
            assert PROBES[name](env) is enabled, (name, enabled)


@pytest.mark.parametrize("plan,has_roles", [("growth", False), ("scale", True)])
def test_the_plan_page_says_what_the_roles_page_does(client, plan, has_roles):
    """The issue's example: Growth said "Custom roles: Off" and still made custom roles."""
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, plan)
    login(client, people["owner"])
    row = client.get(f"/o/{org.slug}/plan").get_data(as_text=True).split(
        'data-feature="custom-roles"')[1].split("</tr>")[0]
    made = post(client, f"/o/{org.slug}/roles", {"name": "Probe", "permissions": ["org.view"]})
    assert ("badge-on" in row) is has_roles, row
    assert (made.status_code == 303) is has_roles
