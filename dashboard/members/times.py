"""The members table's ``<time>`` elements from look-up tables (issue 20).

A page shows two times a row, 100 a page. ``display.time_element`` works each one out in
general: a five-part key for the memoised head, then the relative phrase ("3 days ago") by
dividing the distance by each unit in turn, rounding and looking the phrase up. Here:

- the phrase comes from one ``bisect`` of the distance in seconds into a table of the
  points where the phrase changes, built once per process from babel's units;
- the element is kept per zone and instant with the span of ``now`` over which its phrase
  holds (the interval of the table, as instants): a page seen again, by anyone in that
  zone, costs a dictionary look-up and two comparisons per time.

Same HTML as ``display.time_element(value, zone, now=now)`` with ``&#183;``
(tests/unit/test_member_times.py compares them). Whatever the table is not sure of goes
to ``display`` instead: a distance within a millisecond of a point where the phrase
changes (float division and rounding decide there), past the table's last year, no time
at all, or a time whose zone is not UTC itself (the head's key is the instant alone).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import TIMEDELTA_UNITS
from markupsafe import escape

from dashboard import display

DOT = "&#183;"  # the middle dot as ASCII (dashboard/rendering.py copies ASCII pieces as they are)
_GUARD = 0.001  # seconds either side of a change point answered by display itself
_YEARS = 200  # the table's reach; beyond it, display
_THRESHOLD = 0.85  # babel's: the largest unit reaching 0.85 of one is the phrase's unit
_UNSURE = "unsure"  # a key that is no phrase: display decides


def _change_points() -> tuple[list[float], list[tuple | None]]:
    """(points, keys): a distance d in seconds has the phrase of ``keys[bisect(points, d)]``:
    a (unit, count) pair, None for "just now", or ``_UNSURE`` (the guard interval around
    each point, and beyond the table), which display answers."""
    units = list(TIMEDELTA_UNITS)  # largest first
    edges: list[tuple[float, tuple | None]] = [(0.0, None)]  # (from this distance, key)
    start = display.JUST_NOW.total_seconds()
    for index in range(len(units) - 2, -1, -1):  # minute up to year ("second" never shows)
        unit, per_unit = units[index]
        end = _THRESHOLD * units[index - 1][1] if index else _YEARS * per_unit
        count = round(start / per_unit)
        edges.append((start, (unit, count)))
        while (count + 0.5) * per_unit < end:
            edges.append(((count + 0.5) * per_unit, (unit, count + 1)))
            count += 1
        start = end
    points, keys = [], [_UNSURE]  # below 0: not a distance
    for point, key in edges:
        points += [point - _GUARD, point + _GUARD]
        keys += [_UNSURE, key]
    points.append(start - _GUARD)  # the table's end
    keys.append(_UNSURE)
    return points, keys


_POINTS, _KEYS = _change_points()


# The escaped phrase of each interval of _POINTS, per direction: filled on first use (babel
# words each once); None until then, and for ever where the table is unsure.
_PAST: list[str | None] = [None] * len(_KEYS)
_FUTURE: list[str | None] = [None] * len(_KEYS)


def _phrase(index: int, future: bool) -> str | None:
    key = _KEYS[index]
    if key is _UNSURE:
        return None
    phrase = (
        display._JUST_NOW_HTML if key is None else str(escape(display._relative_text(*key, future)))
    )
    (_FUTURE if future else _PAST)[index] = phrase
    return phrase


# Zones that are UTC at every instant: a time in any of them has the same head (its
# isoformat says +00:00). psycopg gives the session's zone: ZoneInfo("Etc/UTC") here, the
# same object each time (ZoneInfo keeps one per key while it is referenced, as here).
_UTC_ZONES = frozenset({UTC, ZoneInfo("UTC"), ZoneInfo("Etc/UTC")})


_NOT_YET = object()


# _POINTS as timedeltas (whole microseconds: each point is a multiple of 30 s, +- 1 ms).
_SPANS = [timedelta(seconds=point) for point in _POINTS]
_EMPTY: dict[str, str] = {}  # empty text -> its element


class PageTimes:
    """The time elements of one page: one zone, one ``now``."""

    __slots__ = ("zone", "now", "_kept", "_tz", "_now_in_tz")

    def __init__(self, zone: str | None, now: datetime) -> None:
        self.zone, self.now = zone, now
        # ``now`` in the zone of the times (the first one's): a difference of two times in
        # the same tzinfo object is plain arithmetic, no UTC offsets asked.
        self._tz, self._now_in_tz = _NOT_YET, now  # not None: a naive time has None
        kept = _KEPT.get(zone)
        if kept is None or len(kept) >= 4096:
            if len(_KEPT) >= 64:
                _KEPT.clear()
            kept = _KEPT[zone] = {}
        self._kept = kept

    def element(self, value: datetime | None, empty: str = "—") -> str:
        if value is None:
            html = _EMPTY.get(empty)
            if html is None:
                html = _EMPTY[empty] = display._empty_element(empty)
            return html
        if value.tzinfo is not self._tz:
            if value.tzinfo not in _UTC_ZONES:
                return display.time_element(value, self.zone, empty=empty, now=self.now)
            self._tz, self._now_in_tz = value.tzinfo, self.now.astimezone(value.tzinfo)
        kept = self._kept.get(value)
        if kept is not None and kept[0] <= self._now_in_tz < kept[1]:
            return kept[2]  # written for a ``now`` with the same phrase
        return self._write(value, kept)

    def _write(self, value: datetime, kept: tuple | None) -> str:
        now = self._now_in_tz
        seconds = (value - now).total_seconds()
        future = seconds >= 0
        index = bisect_right(_POINTS, seconds if future else -seconds)
        phrase = (_FUTURE if future else _PAST)[index] or _phrase(index, future)
        if phrase is None:
            return display.time_element(value, self.zone, now=self.now)
        head = kept[3] if kept is not None else display._time_head(value, self.zone, DOT)
        html = f"{head}{phrase}</span></time>"
        # The instants ``now`` may take with the distance inside this same interval
        # [_POINTS[index - 1], _POINTS[index]), the same phrase: later pages reuse the text.
        if future:
            since, until = value - _SPANS[index], value - _SPANS[index - 1]
        else:
            since, until = value + _SPANS[index - 1], value + _SPANS[index]
        self._kept[value] = (since, until, html, head)
        return html


_KEPT: dict[str | None, dict[datetime, tuple]] = {}  # zone -> instant -> (since, until, html, head)


def page_times(zone: str | None, now: datetime | None = None) -> PageTimes:
    return PageTimes(zone, now or datetime.now(UTC))
