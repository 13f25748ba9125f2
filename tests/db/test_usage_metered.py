"""``web.metered``: other API routes count each successful call and answer 429 past a hard
quota, undoing what the call did."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g
from sqlalchemy import text

from dashboard import tenancy
from dashboard.auth.principal import ActiveMembership
from dashboard.usage import web
from tests import factories


def api_calls(org):
    return factories.execute(
        "SELECT coalesce(sum(total), 0) FROM usage_daily"
        " WHERE org_id = :o AND metric = 'api_calls'", o=org.id).scalar_one()


def call(app, org, user, view):
    with app.test_request_context("/api/v1/anything"):
        g.membership = ActiveMembership(org.id, org.slug, org.name, org.plan, "owner")
        tenancy.bind_request(tenancy.TenantContext(user_id=user.id, org_id=org.id))
        response = app.process_response(app.make_response(web.metered(view)()))
        return response


def test_each_successful_call_counts_once(app):
    org, people = factories.org_with_members(owner="owner")
    assert call(app, org, people["owner"], lambda: ({"ok": True}, 200)).status_code == 200
    assert call(app, org, people["owner"], lambda: ({"no": True}, 404)).status_code == 404
    assert api_calls(org) == 1


def test_past_a_hard_quota_the_call_is_refused_and_undone(app):
    org, people = factories.org_with_members(owner="owner")  # free: hard API quota
    limit = factories.plan_quota("free", "api_calls")
    factories.usage_daily(org, "api_calls", datetime.now(UTC).date(), limit)

    def renames_the_org():
        tenancy.request_session().execute(
            text("UPDATE organizations SET name = 'changed'"))
        return {"ok": True}, 200

    response = call(app, org, people["owner"], renames_the_org)
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "quota_exceeded"
    assert factories.execute("SELECT name FROM organizations WHERE id = :o",
                             o=org.id).scalar_one() == org.name
    assert api_calls(org) == limit
