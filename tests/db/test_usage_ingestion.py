"""Recording usage: idempotent under retries and concurrent batches, rollups in step."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from dashboard.usage import service
from dashboard.usage.service import EventIn
from tests import factories

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


@pytest.fixture
def org():
    org, people = factories.org_with_members(owner="owner")
    factories.execute("UPDATE organizations SET plan = 'enterprise' WHERE id = :o", o=org.id)
    return org, people["owner"]


def acting(runtime_sessions, org, user):
    return tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=user.id, org_id=org.id)
    )


def daily(org, metric):
    rows = factories.execute(
        "SELECT day, total FROM usage_daily WHERE org_id = :o AND metric = :m ORDER BY day",
        o=org.id, m=metric,
    ).all()
    return {day: total for day, total in rows}


def event_count(org):
    return factories.execute(
        "SELECT count(*) FROM usage_events WHERE org_id = :o", o=org.id
    ).scalar_one()


def test_record_usage_counts_once_per_key(runtime_sessions, org):
    org, owner = org
    with acting(runtime_sessions, org, owner) as session:
        assert service.record_usage(session, org.id, "api_calls", 5, NOW, "req-1") is True
        assert service.record_usage(session, org.id, "api_calls", 5, NOW, "req-1") is False
    with acting(runtime_sessions, org, owner) as session:  # a retry in a later transaction
        assert service.record_usage(session, org.id, "api_calls", 5, NOW, "req-1") is False
        assert service.record_usage(session, org.id, "api_calls", 2, NOW) is True  # no key
    assert daily(org, "api_calls") == {TODAY: 7}
    assert event_count(org) == 2


def test_a_retried_batch_never_counts_twice(runtime_sessions, org):
    org, owner = org
    batch = [EventIn("api_calls", i, NOW - timedelta(days=i % 3), f"k{i}") for i in range(50)]
    for attempt in range(3):
        with acting(runtime_sessions, org, owner) as session:
            result = service.record_batch(session, org.id, batch)
        assert (result.accepted, result.duplicates) == ((50, 0) if attempt == 0 else (0, 50))
    expected = {}
    for e in batch:
        day = e.occurred_at.date()
        expected[day] = expected.get(day, 0) + e.quantity
    assert daily(org, "api_calls") == expected
    assert event_count(org) == 50


def test_a_partly_new_batch_counts_only_the_new_events(runtime_sessions, org):
    org, owner = org
    with acting(runtime_sessions, org, owner) as session:
        service.record_batch(session, org.id, [EventIn("api_calls", 10, NOW, "a")])
        result = service.record_batch(
            session, org.id, [EventIn("api_calls", 10, NOW, "a"), EventIn("api_calls", 1, NOW, "b")]
        )
    assert (result.accepted, result.duplicates) == (1, 1)
    assert daily(org, "api_calls") == {TODAY: 11}


def test_gauges_keep_the_days_peak_whatever_the_order(runtime_sessions, org):
    org, owner = org
    readings = [300, 900, 500]
    with acting(runtime_sessions, org, owner) as session:
        for i, value in enumerate(readings):
            service.record_usage(session, org.id, "storage_bytes", value, NOW, f"s{i}")
        service.record_usage(session, org.id, "seats", 4, NOW - timedelta(days=1), "seat-y")
        service.record_usage(session, org.id, "seats", 3, NOW, "seat-t")
    assert daily(org, "storage_bytes") == {TODAY: 900}
    assert daily(org, "seats") == {TODAY - timedelta(days=1): 4, TODAY: 3}


def test_active_users_count_each_person_once_a_day(runtime_sessions, org):
    org, owner = org
    with acting(runtime_sessions, org, owner) as session:
        for person in ("ada", "bo", "ada", "ada", "cy"):
            service.record_usage(session, org.id, "active_users", 1, NOW,
                                 f"active:{person}:{TODAY}")
    assert daily(org, "active_users") == {TODAY: 3}


def test_timestamps_are_stored_to_the_microsecond(runtime_sessions, org):
    org, owner = org
    moments = [datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC),
               datetime(1999, 12, 31, 0, 0, 0, 1, tzinfo=UTC),
               NOW.replace(microsecond=123_457)]
    with acting(runtime_sessions, org, owner) as session:
        service.record_batch(session, org.id, [
            EventIn("api_calls", 1, at, f"t{i}") for i, at in enumerate(moments)])
    stored = factories.execute(
        "SELECT occurred_at FROM usage_events WHERE org_id = :o ORDER BY idempotency_key",
        o=org.id).scalars().all()
    assert stored == moments


def test_days_are_utc_days(runtime_sessions, org):
    org, owner = org
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    with acting(runtime_sessions, org, owner) as session:
        service.record_usage(session, org.id, "api_calls", 1, late, "late")
        # 00:30 on March 2nd at +02:00 is still March 1st in UTC.
        service.record_usage(session, org.id, "api_calls", 1,
                             datetime.fromisoformat("2026-03-02T00:30:00+02:00"), "tz")
    assert daily(org, "api_calls") == {late.date(): 2}


@pytest.mark.parametrize(
    "event",
    [
        EventIn("no_such_metric", 1, NOW, "x"),
        EventIn("api_calls", -1, NOW, "x"),
        EventIn("api_calls", 1.5, NOW, "x"),
        EventIn("api_calls", True, NOW, "x"),
        EventIn("api_calls", 1, NOW.replace(tzinfo=None), "x"),
    ],
)
def test_the_service_refuses_malformed_events(runtime_sessions, org, event):
    org, owner = org
    with pytest.raises(ValueError), acting(runtime_sessions, org, owner) as session:
        service.record_batch(session, org.id, [EventIn("api_calls", 1, NOW, "ok"), event])
    assert event_count(org) == 0


def test_concurrent_overlapping_batches_count_each_event_once(runtime_sessions, org):
    """Threads with their own sessions send batches that share most keys, in different
    orders, all released at once; every event must land exactly once, with no deadlock."""
    org, owner = org
    keys = [f"evt-{i:04d}" for i in range(400)]
    quantity = {k: 1 + i % 7 for i, k in enumerate(keys)}
    workers = 4
    batches = []
    for w in range(workers):
        mine = keys[w * 50: w * 50 + 250]  # overlaps its neighbours' slices
        mine = list(reversed(mine)) if w % 2 else mine
        batches.append([
            EventIn("api_calls", quantity[k], NOW - timedelta(days=int(k[-1]) % 3), k)
            for k in mine
        ])
    errors: list[BaseException] = []
    accepted = []
    for _round in range(3):  # the same batches again: pure retries
        barrier = threading.Barrier(workers)

        def send(batch, barrier=barrier):
            try:
                barrier.wait(timeout=10)
                with acting(runtime_sessions, org, owner) as session:
                    accepted.append(service.record_batch(session, org.id, batch).accepted)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    sent = {e.idempotency_key: e for b in batches for e in b}
    assert sum(accepted) == len(sent) == event_count(org)
    expected = {}
    for e in sent.values():
        expected[e.occurred_at.date()] = expected.get(e.occurred_at.date(), 0) + e.quantity
    assert daily(org, "api_calls") == expected


def test_a_batch_is_atomic_when_the_caller_rolls_back(runtime_sessions, org):
    org, owner = org
    with pytest.raises(RuntimeError), acting(runtime_sessions, org, owner) as session:
        service.record_batch(session, org.id, [EventIn("api_calls", 3, NOW, "gone")])
        raise RuntimeError("request failed after recording")
    assert event_count(org) == 0 and daily(org, "api_calls") == {}


def test_events_are_append_only_for_the_app(runtime_sessions, org):
    org, owner = org
    with acting(runtime_sessions, org, owner) as session:
        service.record_usage(session, org.id, "api_calls", 1, NOW, "keep")
    for statement in ("UPDATE usage_events SET quantity = 99", "DELETE FROM usage_events",
                      "DELETE FROM usage_daily"):
        with pytest.raises(DBAPIError, match="permission denied"), \
                acting(runtime_sessions, org, owner) as session:
            session.execute(text(statement))
    assert event_count(org) == 1


# ------------------------------------------------------------------------------ quotas


@pytest.fixture
def free_org():
    org, people = factories.org_with_members(owner="owner")  # plan 'free'
    return org, people["owner"]


def test_a_hard_quota_refuses_the_batch_that_crosses_it(runtime_sessions, free_org):
    org, owner = free_org
    limit = factories.plan_quota("free", "api_calls")
    with acting(runtime_sessions, org, owner) as session:
        service.record_usage(session, org.id, "api_calls", limit - 1, NOW, "most")
        service.record_usage(session, org.id, "api_calls", 1, NOW, "exactly-at-limit")
    with pytest.raises(service.QuotaExceeded) as caught, \
            acting(runtime_sessions, org, owner) as session:
        service.record_usage(session, org.id, "api_calls", 1, NOW, "one-too-many")
    assert caught.value.status.used == limit + 1
    assert "per month" in str(caught.value)
    assert daily(org, "api_calls") == {TODAY: limit}


def test_late_events_of_last_month_do_not_count_against_this_month(runtime_sessions, free_org):
    org, owner = free_org
    limit = factories.plan_quota("free", "api_calls")
    last_month = TODAY.replace(day=1) - timedelta(days=1)
    factories.usage_daily(org, "api_calls", last_month, limit)
    with acting(runtime_sessions, org, owner) as session:
        at = datetime.combine(last_month, datetime.min.time(), UTC)
        assert service.record_usage(session, org.id, "api_calls", 5, at, "late")
        assert service.record_usage(session, org.id, "api_calls", limit, NOW, "this-month")


def test_levels_are_recorded_past_a_hard_quota_and_warn_once_per_period(
    runtime_sessions, free_org
):
    org, owner = free_org
    limit = factories.plan_quota("free", "seats")
    warned = []
    hook = service.on_quota_warning(lambda session, org_id, status: warned.append(status))
    try:
        with acting(runtime_sessions, org, owner) as session:
            assert service.record_usage(session, org.id, "seats", limit * 2, NOW, "over")
            again = service.record_batch(
                session, org.id, [EventIn("seats", limit * 3, NOW, "more")]
            )
        assert [(w.metric, w.exceeded, w.period) for w in again.warnings] == [
            ("seats", True, "current")]
    finally:
        service._warning_hooks.remove(hook)
    assert [(w.metric, w.used, w.limit) for w in warned] == [("seats", limit * 2, limit)]
    assert daily(org, "seats") == {TODAY: limit * 3}
