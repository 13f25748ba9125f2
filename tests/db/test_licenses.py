"""Plans, licenses and overrides in the database, as the runtime role under RLS."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from dashboard.audit.service import Actor
from dashboard.licenses import service
from dashboard.licenses.features import Feature, Metric
from tests import factories

STAFF_ACTOR = Actor(label="ignored: the database names the staff member", ip="10.0.0.9",
                    user_agent="pytest")


@contextmanager
def as_member(runtime_sessions, user, org):
    with tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=user.id, org_id=org.id)
    ) as session:
        yield session


def as_user(runtime_sessions, user):
    return tenancy.scoped_session(runtime_sessions, tenancy.TenantContext(user_id=user.id))


@pytest.fixture
def staff():
    user = factories.UserFactory()
    factories.make_staff(user)
    return user


def audit_rows(org, action):
    return factories.execute(
        "SELECT actor, actor_user_id, ip, details FROM audit_events"
        " WHERE org_id = :o AND action = :a ORDER BY at", o=org.id, a=action,
    ).all()


# ------------------------------------------------------------------------------ catalogue


def test_catalogue_matches_the_code_vocabulary(runtime_sessions):
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        keys = {f.key for f in service.feature_catalogue(session)}
        plans = service.plans(session)
    assert keys == {f.value for f in Feature}
    assert list(plans) == ["free", "starter", "growth", "scale", "enterprise"]
    for plan in plans.values():
        assert set(plan.quotas) == {m.value for m in Metric}, plan.key


def test_seeded_tiers(runtime_sessions):
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        plans = service.plans(session)
    assert {k: p.rate_limit_per_minute for k, p in plans.items()} == {
        "free": 60, "starter": 100, "growth": 500, "scale": 1000, "enterprise": 2000}
    assert plans["free"].features == frozenset()
    assert plans["enterprise"].features == {f.value for f in Feature}
    assert plans["growth"].quotas["api_calls"].hard is False
    assert plans["free"].quotas["api_calls"].hard is True
    assert plans["enterprise"].quotas["seats"].unlimited


def test_unknown_plan_is_refused_by_the_foreign_key(admin_engine):
    org = factories.OrgFactory()
    with pytest.raises(DBAPIError, match="foreign key"), admin_engine.begin() as conn:
        conn.execute(text("UPDATE organizations SET plan = 'platinum' WHERE id = :o"),
                     {"o": org.id})


def test_a_license_plan_always_follows_its_org(admin_engine):
    org = factories.OrgFactory()
    factories.put_on_plan(org, "growth")
    factories.execute("UPDATE organizations SET plan = 'scale' WHERE id = :o", o=org.id)
    assert factories.execute("SELECT plan FROM licenses WHERE org_id = :o", o=org.id).scalar() \
        == "scale"
    with pytest.raises(DBAPIError, match="foreign key"), admin_engine.begin() as conn:
        conn.execute(text("UPDATE licenses SET plan = 'free' WHERE org_id = :o"), {"o": org.id})


# ------------------------------------------------------------------------------ reads


def test_helpers_for_other_areas(runtime_sessions):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "enterprise", seats=12, rate_limit_per_minute=4321)
    with as_member(runtime_sessions, people["bob"], org) as session:
        assert service.has_feature(session, "scim")
        assert service.seat_limit(session) == 12
        assert service.seats_used(session) == 2
        assert service.rate_limit_per_minute(session) == 4321
        assert service.quota(session, "seats").limit == 12
        assert service.quota(session, Metric.API_CALLS).unlimited
        assert service.current_usage(session)["seats"] == 2
        assert service.current_usage(session)["api_calls"] == 0  # filled by the usage area


def test_entitlements_are_computed_once_per_transaction(runtime_sessions):
    org, people = factories.org_with_members(owner="owner")
    session = runtime_sessions()
    session.info["tenant_context"] = tenancy.TenantContext(
        user_id=people["owner"].id, org_id=org.id)
    try:
        first = service.entitlements(session)
        assert service.entitlements(session) is first
        assert not first.has("sso")
        session.commit()
        factories.put_on_plan(org, "growth")
        assert service.entitlements(session).has("sso")  # next transaction: fresh
    finally:
        session.close()


def test_no_context_or_another_org_sees_no_entitlements(runtime_sessions):
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    with (
        pytest.raises(service.OrgNotVisible),
        tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session,
    ):
        service.entitlements(session)
    with pytest.raises(service.OrgNotVisible), as_member(
        runtime_sessions, people_a["owner"], org_a
    ) as session:
        service.entitlements(session, org_b.id)


def test_expiry_takes_effect_without_a_restart(runtime_sessions):
    """One long-lived session factory (as in a running worker); real time passes."""
    org, people = factories.org_with_members(owner="owner")
    deadline = factories.execute("SELECT clock_timestamp() + interval '1 second'").scalar()
    factories.put_on_plan(org, "growth", valid_until=deadline)
    factories.FeatureOverrideFactory(org_id=org.id, feature="scim", enabled=True,
                                     expires_at=deadline)
    with as_member(runtime_sessions, people["owner"], org) as session:
        before = service.entitlements(session)
    assert before.has("sso") and before.has("scim") and before.banner is None
    while factories.execute("SELECT clock_timestamp() <= :d", d=deadline).scalar():
        time.sleep(0.05)  # waiting for the clock itself: nothing else to await
    with as_member(runtime_sessions, people["owner"], org) as session:
        after = service.entitlements(session)
    assert not after.has("sso") and not after.has("scim")
    assert after.license_state == "expired" and after.effective_plan == "free"
    assert "license ended" in after.banner


# ------------------------------------------------------------------------------ isolation


def test_another_orgs_license_and_overrides_are_invisible(runtime_sessions):
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    factories.put_on_plan(org_b, "scale")
    factories.FeatureOverrideFactory(org_id=org_b.id, feature="sso", enabled=False)
    with as_member(runtime_sessions, people_a["owner"], org_a) as session:
        for table in ("licenses", "feature_overrides"):
            assert session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE org_id = :b"), {"b": org_b.id}
            ) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE licenses SET seats = 999 WHERE org_id = :b",
        "DELETE FROM licenses WHERE org_id = :b",
        "UPDATE feature_overrides SET enabled = true WHERE org_id = :b",
        "DELETE FROM feature_overrides WHERE org_id = :b",
        "INSERT INTO feature_overrides (org_id, feature, enabled, reason)"
        " VALUES (:b, 'sso', true, 'forged')",
        "INSERT INTO licenses (org_id, plan) VALUES (:b, 'scale')",
        # own org too: admins see but cannot change
        "UPDATE licenses SET seats = 999 WHERE org_id = :a",
        "INSERT INTO feature_overrides (org_id, feature, enabled, reason)"
        " VALUES (:a, 'sso', true, 'self-service')",
        "UPDATE organizations SET plan = 'enterprise' WHERE id = :a",
        "UPDATE plans SET rate_limit_per_minute = 1000000",
        "INSERT INTO plan_features (plan, feature) VALUES ('free', 'sso')",
        "SELECT license_set_override(:a, 'sso', true, NULL, NULL, 'x', 'reason', NULL, NULL)",
    ],
)
def test_the_runtime_role_cannot_write_licenses_of_any_org(runtime_sessions, statement):
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    factories.put_on_plan(org_b, "scale", seats=20)
    factories.FeatureOverrideFactory(org_id=org_b.id, feature="sso", enabled=False)
    with pytest.raises(DBAPIError, match="permission denied"), as_member(
        runtime_sessions, people_a["owner"], org_a
    ) as session:
        session.execute(text(statement), {"a": org_a.id, "b": org_b.id})
    assert factories.execute("SELECT seats FROM licenses WHERE org_id = :b",
                             b=org_b.id).scalar() == 20
    assert factories.execute("SELECT plan FROM organizations WHERE id = :a",
                             a=org_a.id).scalar() == "free"


def test_the_runtime_role_cannot_mint_staff(runtime_sessions):
    with pytest.raises(DBAPIError, match="permission denied"), tenancy.scoped_session(
        runtime_sessions, tenancy.NOBODY
    ) as session:
        session.execute(text(
            "INSERT INTO users (email, name, is_staff) VALUES ('mallory@example.com', 'M', true)"
        ))


# ------------------------------------------------------------------------------ staff writes


def test_staff_change_a_plan_with_an_audit_row_in_that_org(runtime_sessions, staff):
    org, people = factories.org_with_members(owner="owner")
    with as_user(runtime_sessions, staff) as session:
        service.change_plan(session, org.id, plan="enterprise", seats=40,
                            rate_limit_per_minute=5000, reason="signed order #1234",
                            actor=STAFF_ACTOR)
    with as_member(runtime_sessions, people["owner"], org) as session:
        e = service.entitlements(session)
    assert e.plan == "enterprise" and e.seat_limit == 40 and e.rate_limit_per_minute == 5000
    (actor, actor_user_id, ip, details), = audit_rows(org, "license.change_plan")
    assert actor == f"{staff.email} (staff)" and actor_user_id == staff.id and ip == "10.0.0.9"
    assert details["before"]["plan"] == "free" and details["after"]["plan"] == "enterprise"
    assert details["after"]["seats"] == 40 and details["reason"] == "signed order #1234"


def test_staff_set_and_clear_overrides(runtime_sessions, staff):
    org, people = factories.org_with_members(owner="owner")
    with as_user(runtime_sessions, staff) as session:
        service.set_override(session, org.id, feature="sso", enabled=True,
                             reason="pilot for ticket 77", actor=STAFF_ACTOR)
    with as_member(runtime_sessions, people["owner"], org) as session:
        assert service.has_feature(session, "sso")
    with as_user(runtime_sessions, staff) as session:
        view = service.staff_view(session, org.id)
        assert view.entitlements.features["sso"].source == "override"
        assert service.clear_override(session, org.id, feature="sso", reason="pilot over",
                                      actor=STAFF_ACTOR)
        assert not service.clear_override(session, org.id, feature="sso", reason="again",
                                          actor=STAFF_ACTOR)
    with as_member(runtime_sessions, people["owner"], org) as session:
        assert not service.has_feature(session, "sso")
    assert len(audit_rows(org, "license.set_override")) == 1
    assert len(audit_rows(org, "license.clear_override")) == 1


def test_staff_changes_leave_other_orgs_alone(runtime_sessions, staff):
    org_a, _ = factories.org_with_members(owner="owner")
    org_b, _ = factories.org_with_members(owner="owner")
    factories.put_on_plan(org_b, "starter", seats=7)
    with as_user(runtime_sessions, staff) as session:
        service.change_plan(session, org_a.id, plan="scale", reason="upgrade", actor=STAFF_ACTOR)
        service.set_override(session, org_a.id, feature="scim", enabled=False, reason="hold",
                             actor=STAFF_ACTOR)
    assert factories.execute(
        "SELECT o.plan, l.seats FROM organizations o JOIN licenses l ON l.org_id = o.id"
        " WHERE o.id = :b", b=org_b.id).one() == ("starter", 7)
    assert factories.execute("SELECT count(*) FROM feature_overrides WHERE org_id = :b",
                             b=org_b.id).scalar() == 0
    assert audit_rows(org_b, "license.change_plan") == []


@pytest.mark.parametrize("who", ["owner", "inactive-staff", "nobody"])
def test_only_active_staff_may_change_plans(runtime_sessions, who):
    org, people = factories.org_with_members(owner="owner")
    if who == "owner":
        context = tenancy.TenantContext(user_id=people["owner"].id, org_id=org.id)
    elif who == "inactive-staff":
        user = factories.UserFactory(is_active=False)
        factories.make_staff(user)
        context = tenancy.TenantContext(user_id=user.id)
    else:
        context = tenancy.NOBODY
    with tenancy.scoped_session(runtime_sessions, context) as session:
        for attempt in (
            lambda: service.change_plan(session, org.id, plan="enterprise", reason="please",
                                        actor=STAFF_ACTOR),
            lambda: service.set_override(session, org.id, feature="sso", enabled=True,
                                         reason="please", actor=STAFF_ACTOR),
            lambda: service.clear_override(session, org.id, feature="sso", reason="please",
                                           actor=STAFF_ACTOR),
            lambda: service.staff_view(session, org.id),
        ):
            with pytest.raises(service.NotStaff):
                attempt()
    assert factories.execute("SELECT plan FROM organizations WHERE id = :o",
                             o=org.id).scalar() == "free"
    assert audit_rows(org, "license.change_plan") == []


def test_staff_input_is_validated(runtime_sessions, staff):
    import uuid
    from datetime import UTC, datetime, timedelta

    org, _ = factories.org_with_members(owner="owner")
    past = datetime.now(UTC) - timedelta(minutes=1)
    with as_user(runtime_sessions, staff) as session:
        cases = [
            (dict(plan="platinum", reason="upgrade"), "plan"),
            (dict(plan="growth", reason=" "), "reason"),
            (dict(plan="growth", reason="x" * 501), "reason"),
            (dict(plan="growth", reason="upgrade", seats=0), "seats"),
            (dict(plan="growth", reason="upgrade", rate_limit_per_minute=-5),
             "rate_limit_per_minute"),
            (dict(plan="growth", reason="upgrade", valid_from=past, valid_until=past),
             "valid_until"),
        ]
        for kwargs, field in cases:
            with pytest.raises(service.LicenseError) as refused:
                service.change_plan(session, org.id, actor=STAFF_ACTOR, **kwargs)
            assert refused.value.field == field
        with pytest.raises(service.LicenseError):
            service.set_override(session, org.id, feature="teleport", enabled=True,
                                 reason="why not", actor=STAFF_ACTOR)
        with pytest.raises(service.LicenseError):
            service.set_override(session, org.id, feature="sso", enabled=True,
                                 reason="late", expires_at=past, actor=STAFF_ACTOR)
        with pytest.raises(service.OrgNotFound):
            service.change_plan(session, uuid.uuid4(), plan="growth", reason="ghost",
                                actor=STAFF_ACTOR)
        assert service.staff_view(session, uuid.uuid4()) is None
        # the session is still usable after the refusals (savepoints)
        service.change_plan(session, org.id, plan="growth", reason="finally", actor=STAFF_ACTOR)
    assert factories.execute("SELECT plan FROM organizations WHERE id = :o",
                             o=org.id).scalar() == "growth"


def test_a_plan_change_by_another_path_drops_the_old_plans_custom_terms(runtime_sessions, staff):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise", seats=400, rate_limit_per_minute=7500,
                          valid_until="2999-01-01T00:00:00Z")
    factories.execute("UPDATE organizations SET plan = 'scale' WHERE id = :o", o=org.id)
    with as_member(runtime_sessions, people["owner"], org) as session:
        e = service.entitlements(session)
    assert (e.plan, e.seat_limit, e.rate_limit_per_minute) == ("scale", 250, 1000)
    assert e.valid_until.year == 2999  # the term's dates stay
    with as_user(runtime_sessions, staff) as session:  # staff set plan and terms together
        service.change_plan(session, org.id, plan="enterprise", seats=30, reason="renewal",
                            actor=STAFF_ACTOR)
    with as_member(runtime_sessions, people["owner"], org) as session:
        assert service.seat_limit(session) == 30
