"""Issue 21: SSO sign-in follows the plan. The database's rule (``app_org_has_feature``, used
before any tenant context exists) agrees with the Python entitlements, and an org that lost
SSO neither sends people to its IdP nor keeps "Require SSO" binding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from dashboard import tenancy
from dashboard.licenses import service as licenses
from dashboard.licenses.features import Feature
from tests import factories
from tests.helpers import login

NOW = datetime.now(UTC)
CASES = {
    "free": dict(plan="free"),
    "growth": dict(plan="growth"),
    "expired growth": dict(plan="growth", valid_from=NOW - timedelta(days=30),
                           valid_until=NOW - timedelta(days=1)),
    "pending scale": dict(plan="scale", valid_from=NOW + timedelta(days=1)),
    "free + override on": dict(plan="free", override=True),
    "enterprise + override off": dict(plan="enterprise", override=False),
    "free + expired override": dict(plan="free", override=True,
                                    override_until=NOW - timedelta(hours=1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_sql_rule_agrees_with_the_python_entitlements(app, admin_engine, case):
    spec = CASES[case]
    org, people = factories.org_with_members(owner="owner")
    terms = {k: spec[k] for k in ("valid_from", "valid_until") if k in spec}
    factories.put_on_plan(org, spec["plan"], **terms)
    if "override" in spec:
        for feature in Feature:
            factories.FeatureOverrideFactory(
                org_id=org.id, feature=feature.value, enabled=spec["override"],
                expires_at=spec.get("override_until"), reason="test")
    factory = app.extensions["tenantdesk.db"].sessionmaker
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    with tenancy.scoped_session(factory, context) as session:
        python = {f.value: licenses.entitlements(session).has(f) for f in Feature}
    with admin_engine.connect() as conn:
        sql = {f.value: conn.execute(text("SELECT app_org_has_feature(:o, :f)"),
                                     {"o": org.id, "f": f.value}).scalar() for f in Feature}
    assert sql == python


def test_an_org_without_sso_keeps_its_connection_but_require_sso_stops_binding(client):
    org, people = factories.org_with_members(member="member")
    factories.put_on_plan(org, "enterprise")
    factories.SsoConnectionFactory(org_id=org.id, require_sso=True, owner_break_glass=False)
    assert login(client, people["member"]).status_code == 403  # SSO required, SSO included
    factories.put_on_plan(org, "starter")  # downgraded: SSO is not in Starter
    response = login(client, people["member"])
    assert response.status_code == 302  # a password session again, not locked out
    assert client.get(f"/o/{org.slug}/").status_code == 200
