"""The members table's time elements (dashboard/members/times.py) are display's, exactly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from babel.dates import TIMEDELTA_UNITS

from dashboard import display
from dashboard.members import times

NOW = datetime(2026, 12, 2, 14, 0, 5, 123456, tzinfo=UTC)
ZONES = [None, "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def reference(value, zone, now=NOW, empty="—"):
    return display.time_element(value, zone, empty=empty, now=now)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("tz", [UTC, ZoneInfo("Etc/UTC")])  # psycopg's, for a UTC session
def test_random_instants_read_as_display_writes_them(zone, tz):
    rng = random.Random(20)
    page = times.page_times(zone, NOW)
    for _ in range(2000):
        seconds = rng.choice([60, 3600, 86400, 86400 * 40, 86400 * 800, 86400 * 365 * 300])
        value = (NOW + timedelta(seconds=rng.uniform(-seconds, seconds))).astimezone(tz)
        assert page.element(value) == reference(value, zone), value


def test_the_table_answers_most_times_itself(monkeypatch):
    asked = []
    monkeypatch.setattr(display, "time_element", lambda *a, **k: asked.append(a) or "")
    page = times.page_times(None, NOW)
    for days in range(1, 200):
        page.element((NOW - timedelta(days=days, seconds=7)).astimezone(ZoneInfo("Etc/UTC")))
    assert asked == []


def test_every_change_point_and_its_neighbours():
    page = times.page_times(None, NOW)
    for point in times._POINTS:
        for nudge in (-0.002, -0.001, -0.0005, -0.000001, 0, 0.000001, 0.0005, 0.001, 0.002):
            for sign in (1, -1):
                try:
                    value = NOW + sign * timedelta(seconds=point + nudge)
                except OverflowError:
                    continue
                assert page.element(value) == reference(value, None), (point, nudge, sign)


def test_whole_units_and_halves_exactly():
    page = times.page_times("Europe/Berlin", NOW)
    for _, per_unit in TIMEDELTA_UNITS:
        for count in range(0, 60):
            for half in (0, 0.5):
                for sign in (1, -1):
                    value = NOW + sign * timedelta(seconds=(count + half) * per_unit)
                    assert page.element(value) == reference(value, "Europe/Berlin")


def test_no_time_other_zones_and_naive_times_go_to_display():
    page = times.page_times("Asia/Kolkata", NOW)
    assert page.element(None) == reference(None, "Asia/Kolkata")
    assert page.element(None, "Never") == reference(None, "Asia/Kolkata", empty="Never")
    plus_two = NOW.astimezone(timezone(timedelta(hours=2))) - timedelta(days=3)
    assert page.element(plus_two) == reference(plus_two, "Asia/Kolkata")
    naive = datetime(2026, 11, 1, 12, 0)
    assert page.element(naive) == reference(naive, "Asia/Kolkata")


def test_the_same_instant_in_another_zone_has_that_zone_s_head():
    value = NOW - timedelta(days=2)
    assert times.page_times("Europe/Berlin", NOW).element(value) == reference(
        value, "Europe/Berlin"
    )
    assert times.page_times("America/New_York", NOW).element(value) == reference(
        value, "America/New_York"
    )


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_a_kept_element_is_served_only_while_its_phrase_holds(zone):
    """The same instants on page after page, ``now`` moving on (and back) by steps from a
    millisecond to years: every element is display's for that ``now``."""
    rng = random.Random(7)
    values = [
        (NOW + timedelta(seconds=rng.uniform(-4e7, 4e7))).astimezone(ZoneInfo("Etc/UTC"))
        for _ in range(60)
    ]
    values += [NOW - timedelta(seconds=s) for s in (59.9995, 60, 89.9995, 90.0005, 3060)]
    now = NOW
    for _ in range(400):
        now += timedelta(seconds=rng.choice([0.0007, 0.5, 29, 61, 1799, 43200, 3e6, -3e6]))
        page = times.page_times(zone, now)
        for value in values:
            assert page.element(value) == reference(value, zone, now=now), (value, now)
