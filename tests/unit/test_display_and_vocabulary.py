"""Times in the person's zone (absolute, relative, full on hover), babel dates and numbers,
and a readable name for every audit action the code writes and every permission."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dashboard import display, vocabulary
from dashboard.permissions import Permission

NOW = datetime(2026, 12, 2, 14, 5, 9, tzinfo=UTC)


def test_a_time_in_the_persons_zone_absolute_relative_and_full():
    m = display.moment(NOW - timedelta(hours=3), "Europe/Berlin", now=NOW)
    assert m.short == "2 Dec 2026, 12:05 CET"
    assert m.relative == "3 hr ago"
    assert m.full == "Wednesday, 2 December 2026, 12:05:09 Central European Standard Time"
    assert m.iso == "2026-12-02T11:05:09+00:00"
    tokyo = display.moment(NOW, "Asia/Tokyo", now=NOW)
    assert tokyo.short == "2 Dec 2026, 23:05 GMT+9" and tokyo.relative == "just now"
    assert display.moment(NOW + timedelta(days=2), None, now=NOW).relative == "in 2 days"
    india = display.moment(NOW, "Asia/Kolkata", now=NOW).short
    assert india.endswith(("IST", "GMT+5:30")), india


def test_no_or_an_unknown_zone_is_utc_and_naive_times_are_utc():
    assert display.moment(NOW, None, now=NOW).short == "2 Dec 2026, 14:05 UTC"
    assert display.moment(NOW, "Mars/Olympus", now=NOW).short == "2 Dec 2026, 14:05 UTC"
    naive = NOW.replace(tzinfo=None)
    assert display.moment(naive, "UTC", now=NOW).iso == NOW.isoformat()
    assert display.known_zone("America/New_York")
    assert not display.known_zone("Mars/Olympus") and not display.known_zone("../etc/passwd")


def test_the_time_element_escapes_and_says_never():
    html = str(display.when_html(NOW, "UTC"))
    assert html.startswith('<time datetime="2026-12-02T14:05:09+00:00" title="Wednesday,')
    assert '2 Dec 2026, 14:05 UTC <span class="muted">· ' in html
    assert "Never" in str(display.when_html(None, "UTC", empty="Never"))


def test_days_and_numbers():
    assert (str(display.day_html(date(2026, 1, 31)))
            == '<time datetime="2026-01-31">31 Jan 2026</time>')
    # 23:30 UTC is already the next day in Tokyo.
    late = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert "1 Feb 2026" in str(display.day_html(late, "Asia/Tokyo"))
    assert display.number(1234567) == "1,234,567"
    assert display.number(1234.5, 1) == "1,234.5"
    assert display.number(None) == "—"


def test_every_permission_has_a_readable_name():
    for permission in Permission:
        assert permission in vocabulary.PERMISSIONS, permission
        assert vocabulary.permission_label(permission) != permission.value
    assert vocabulary.permission_label("usage.report") == "Report usage"


ROOT = Path(__file__).resolve().parents[2]
ACTION = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
AUDIT_CALLS = {"record_audit": 3, "audit_everywhere": 2}  # positional index of the action
# Built from parts at run time (dashboard/events/endpoints.py _action, events/log.py).
DYNAMIC = {f"{kind}.{verb}" for kind in ("webhook", "audit_stream")
           for verb in ("create", "update", "rotate_secret", "enable", "disable", "delete",
                        "redeliver")}


def _written_actions() -> set[str]:
    """Every audit action literal in the code: the ``action`` argument of the audit calls,
    ``action = "..."`` assignments, and the actions SQL functions insert into audit_events."""
    found = set(DYNAMIC)
    for path in (ROOT / "dashboard").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            values = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                values += [k.value for k in node.keywords if k.arg == "action"]
                if name in AUDIT_CALLS and len(node.args) > AUDIT_CALLS[name]:
                    values.append(node.args[AUDIT_CALLS[name]])
            if isinstance(node, ast.Assign) and any(
                    getattr(t, "id", None) == "action" for t in node.targets):
                values.append(node.value)
            for value in values:
                found |= {c.value for c in ast.walk(value) if isinstance(c, ast.Constant)
                          and isinstance(c.value, str) and ACTION.match(c.value)}
    for path in (ROOT / "migrations").rglob("*.py"):
        for statement in re.findall(r"INSERT INTO audit_events[^;]*", path.read_text()):
            found |= set(re.findall(r"'([a-z_]+(?:\.[a-z_]+)+)'", statement))
    return found


def test_every_audit_action_the_code_writes_has_a_readable_name():
    actions = _written_actions()
    assert {"member.role_change", "license.change_plan", "invitation.create"} <= actions
    assert sorted(actions - vocabulary.AUDIT_ACTIONS.keys()) == []


def test_an_unnamed_key_is_still_readable():
    assert vocabulary.action_label("widget.made_up_thing") == "Widget: made up thing"
    assert vocabulary.action_label("license.change_plan") == "Changed the plan"


def test_fast_formatting_says_exactly_what_babel_says():
    """display.moment reads babel's names once and formats by hand: for a spread of instants,
    zones (summer and standard time, half-hour offsets, no abbreviation) and distances, every
    string equals babel's own format_datetime / format_time / format_timedelta."""
    import random

    from babel.dates import format_datetime, format_time, format_timedelta

    rng = random.Random(20)
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo",
             "Australia/Lord_Howe", "America/St_Johns", "Pacific/Chatham", None]
    for _ in range(400):
        value = NOW + timedelta(seconds=rng.randint(-3 * 365 * 86400, 400 * 86400),
                                microseconds=rng.randint(0, 999_999))
        distance = rng.choice([0, 30, 61, 3000, 5400, 86_000, 86_400 * 6, 86_400 * 26,
                               86_400 * 40, 86_400 * 340, rng.randint(0, 10 ** 8)])
        now = value + timedelta(seconds=rng.choice([-1, 1]) * distance)
        name = rng.choice(zones)
        tz = display.zone(name)
        local = value.astimezone(tz)
        m = display.moment(value, name, now=now)
        short = format_datetime(local, "d MMM y, HH:mm", locale=display.LOCALE)
        full = format_datetime(local, "EEEE, d MMMM y, HH:mm:ss", locale=display.LOCALE)
        assert m.short.startswith(short + " "), (m.short, short)
        assert m.full == f"{full} {format_time(local, 'zzzz', tzinfo=tz, locale=display.LOCALE)}"
        babel_abbreviation = format_time(local, "z", tzinfo=tz, locale=display.LOCALE)
        if babel_abbreviation[0].isalpha() and len(babel_abbreviation) <= 5:
            assert m.short == f"{short} {babel_abbreviation}"
        expected = "just now" if abs(value - now) < display.JUST_NOW else format_timedelta(
            value - now, add_direction=True, format="short", locale=display.LOCALE)
        assert m.relative == expected, (value - now, m.relative, expected)


def test_the_time_element_is_the_escaped_moment_piece_by_piece():
    """when_html escapes each piece once where it comes from (issue 20): the result is exactly
    the moment's four strings, each escaped, in the element, for any zone and distance."""
    import random

    from markupsafe import Markup, escape

    rng = random.Random(21)
    zones = ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata", "Asia/Tokyo",
             "Australia/Lord_Howe", "Mars/Olympus", None]
    for _ in range(300):
        value = NOW + timedelta(seconds=rng.randint(-3 * 365 * 86400, 400 * 86400),
                                microseconds=rng.choice([0, rng.randint(0, 999_999)]))
        now = value + timedelta(seconds=rng.choice([0, 30, 5400, 86_400 * 40, 10 ** 8]))
        name = rng.choice(zones)
        m = display.moment(value, name, now=now)
        expected = Markup(
            '<time datetime="{}" title="{}">{} <span class="muted">· {}</span></time>'
        ).format(m.iso, m.full, m.short, m.relative)
        assert display.when_html(value, name, now=now) == expected
        assert display.when_html(value.replace(tzinfo=None), name, now=now) == (
            display.when_html(value, name, now=now))
    assert display.when_html(None, "UTC", empty="Never") == Markup(
        '<span class="muted">Never</span>')
    assert display.when_html(None, None, empty="<b>") == Markup(
        '<span class="muted">&lt;b&gt;</span>')
    assert display.when_html(None, None) == Markup('<span class="muted">—</span>')
    assert escape(display.when_html(NOW, "UTC")) == display.when_html(NOW, "UTC")


def test_the_memoised_time_element_tells_repeated_wall_times_apart():
    """The hour repeated when summer time ends: two instants, one wall time in Berlin; each
    keeps its own offset in the memoised element."""
    berlin = display.zone("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)
    second = first.replace(fold=1)
    assert first == second  # same tzinfo: Python compares the wall times
    a = str(display.when_html(first, "UTC", now=NOW))
    b = str(display.when_html(second, "UTC", now=NOW))
    assert 'datetime="2026-10-25T02:30:00+02:00"' in a and "00:30 UTC" in a
    assert 'datetime="2026-10-25T02:30:00+01:00"' in b and "01:30 UTC" in b
    assert str(display.when_html(first, "UTC", now=NOW)) == a


def test_the_time_element_as_a_str_is_the_same_element_in_ascii():
    """time_element (the members table's) is when_html with the middle dot written as a
    character reference: the same text in a browser, and all ASCII for an ASCII zone."""
    for value, name in [(NOW, "UTC"), (NOW - timedelta(days=400), "Europe/Berlin"),
                        (NOW + timedelta(minutes=5), "Asia/Kolkata"), (None, "UTC")]:
        for now in (NOW, NOW + timedelta(seconds=30), NOW + timedelta(days=3)):
            element = display.time_element(value, name, empty="Never", now=now)
            assert element.replace("&#183;", "·") == str(
                display.when_html(value, name, empty="Never", now=now))
            assert element.isascii()
