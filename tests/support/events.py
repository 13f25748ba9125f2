"""Helpers for event tests: orgs on a plan, endpoints made through the page, audit rows
committed in an org's RLS context, a worker round pump."""

from __future__ import annotations

import re
import time

from dashboard import tenancy
from dashboard.audit.service import Actor, record_audit
from tests import factories
from tests.helpers import post


def org_on(plan: str = "growth", **people):
    org, members = factories.org_with_members(owner="owner", **people)
    factories.put_on_plan(org, plan)
    return org, members


def make_endpoint(client, org, url: str, types=()) -> tuple[str, str]:
    """(endpoint id, signing secret shown once) through the web page."""
    response = post(client, f"/o/{org.slug}/webhooks", {"url": url, "event_types": list(types)})
    assert response.status_code == 201, response.get_data(as_text=True)
    secret = re.search(r'value="(whsec_[^"]+)"', response.get_data(as_text=True)).group(1)
    endpoint_id = factories.execute(
        "SELECT id FROM event_destinations WHERE org_id = :o AND url = :u", o=org.id, u=url,
    ).scalar_one()
    return str(endpoint_id), secret


def audit_in(app, org, user, action="member.role_change", n=1):
    """Commit ``n`` audit rows in ``org`` as ``user`` (the RLS context a request would have)."""
    factory = app.extensions["tenantdesk.db"].sessionmaker
    context = tenancy.TenantContext(user_id=user.id, org_id=org.id)
    with tenancy.scoped_session(factory, context) as session:
        for i in range(n):
            record_audit(session, org_id=org.id, actor=Actor(label="tester"), action=action,
                         target=f"user:{i}", after={"n": i})


def pump(worker):
    def once():
        if not worker.run_once():
            time.sleep(0.02)
    return once


def attempts_of(org):
    return factories.execute(
        "SELECT d.id AS delivery_id, d.message_id, a.attempt, a.status_code, a.error,"
        " d.status, a.worker FROM event_delivery_attempts a JOIN event_deliveries d"
        "   ON d.org_id = a.org_id AND d.id = a.delivery_id"
        " WHERE a.org_id = :o ORDER BY d.created_at, a.attempt", o=org.id).all()
