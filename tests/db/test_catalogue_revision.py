"""Issue 20: each worker keeps the parsed plan catalogue, keyed by ``catalogue_revision``
(migration 0051), and the entitlements statement sends the catalogue only to a worker whose
revision is stale. A catalogue change must show on the next request of every worker, and
the shared copy must never carry one org's values to another."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from dashboard.licenses import service as licenses
from tests import factories
from tests.helpers import login

CATALOGUE_TABLES = ("plans", "features", "plan_features", "plan_quotas", "plan_limits")


def home(client, org) -> str:
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def sso_step(html: str) -> str:
    return html.split('data-step="sso"', 1)[1].split("</li>", 1)[0]


def revision() -> str:
    return factories.execute("SELECT revision::text FROM catalogue_revision").scalar_one()


@contextmanager
def another_worker():
    """What a worker that last read the catalogue before now holds: this process's copy as
    it is on entry, put back (as if that worker's next request came) when the block's
    ``stale()`` is called."""
    saved = (dict(licenses._catalogues), licenses._known_revision)

    def stale():
        licenses._catalogues.clear()
        licenses._catalogues.update(saved[0])
        licenses._known_revision = saved[1]

    yield stale


def test_each_catalogue_table_raises_the_revision_in_the_changing_transaction(admin_engine):
    changes = [f"UPDATE {t} SET key = key" for t in ("plans", "features")]
    changes += [
        f"UPDATE {t} SET plan = plan" for t in ("plan_features", "plan_quotas", "plan_limits")
    ]
    changes += ["TRUNCATE plan_limits"]
    for change in changes:
        with admin_engine.connect() as conn:
            before = conn.execute(text("SELECT revision FROM catalogue_revision")).scalar_one()
            conn.execute(text(change))
            inside = conn.execute(text("SELECT revision FROM catalogue_revision")).scalar_one()
            conn.rollback()
            after = conn.execute(text("SELECT revision FROM catalogue_revision")).scalar_one()
        assert inside != before, change
        assert after == before, change  # rolled back with the change: nothing to see


def test_the_runtime_role_cannot_set_the_revision(runtime_sessions):
    with runtime_sessions() as session, pytest.raises(DBAPIError):
        session.execute(text("UPDATE catalogue_revision SET revision = gen_random_uuid()"))


def test_a_feature_added_to_a_plan_shows_on_the_next_home_of_every_worker(client):
    org, people = factories.org_with_members(owner="owner")  # Free: no SSO
    login(client, people["owner"])
    with another_worker() as stale:
        assert 'class="lock"' in sso_step(home(client, org))
        with another_worker() as stale:  # this worker has read the current revision
            factories.execute("INSERT INTO plan_features (plan, feature) VALUES ('free', 'sso')")
            try:
                assert 'class="lock"' not in sso_step(home(client, org))  # this worker
                stale()
                assert 'class="lock"' not in sso_step(home(client, org))  # one still stale
            finally:
                factories.execute(
                    "DELETE FROM plan_features WHERE plan = 'free' AND feature = 'sso'"
                )
        assert 'class="lock"' in sso_step(home(client, org))


def test_a_plan_renamed_shows_on_the_next_page_of_every_worker(client):
    org, people = factories.org_with_members(owner="owner")
    ended = datetime.now(UTC) - timedelta(days=1)
    factories.put_on_plan(org, "growth", valid_from=ended - timedelta(days=30), valid_until=ended)
    login(client, people["owner"])
    assert "Your Growth license ended" in home(client, org)  # the banner names the plan
    with another_worker() as stale:
        factories.execute("UPDATE plans SET name = 'Growth Renamed' WHERE key = 'growth'")
        try:
            assert "Your Growth Renamed license ended" in home(client, org)
            stale()
            assert "Your Growth Renamed license ended" in home(client, org)
        finally:
            factories.execute("UPDATE plans SET name = 'Growth' WHERE key = 'growth'")
    assert "Your Growth license ended" in home(client, org)


def test_a_new_feature_reaches_the_entitlements(runtime_sessions):
    org, people = factories.org_with_members(owner="owner")
    context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    with tenancy.scoped_session(runtime_sessions, context) as session:
        assert "new-thing" not in licenses.entitlements(session).features
    factories.execute(
        "INSERT INTO features (key, name, description)"
        " VALUES ('new-thing', 'New thing', 'Added by a test.')"
    )
    try:
        with tenancy.scoped_session(runtime_sessions, context) as session:
            assert "new-thing" in licenses.entitlements(session).features
    finally:
        factories.execute("DELETE FROM features WHERE key = 'new-thing'")


def test_the_shared_catalogue_never_carries_one_orgs_plan_or_overrides_to_another(app):
    free, free_people = factories.org_with_members(owner="owner")
    growth, growth_people = factories.org_with_members(owner="owner")
    factories.put_on_plan(growth, "growth")
    overridden, overridden_people = factories.org_with_members(owner="owner")
    factories.FeatureOverrideFactory(org_id=overridden.id, feature="sso", enabled=True)
    clients = {}
    for org, people in (
        (free, free_people),
        (growth, growth_people),
        (overridden, overridden_people),
    ):
        clients[org.id] = app.test_client()
        login(clients[org.id], people["owner"])
    for _ in range(3):  # interleaved: each request after another org's, on one copy
        for org, locked, plan in (
            (free, True, "Free"),
            (growth, False, "Growth"),
            (overridden, False, "Free"),
        ):
            html = home(clients[org.id], org)
            assert ('class="lock"' in sso_step(html)) is locked, org.slug
            assert re.search(r'data-testid="plan">([^<]*)<', html).group(1) == plan
    assert licenses._known_revision == revision()
