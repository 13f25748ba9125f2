"""How times, dates and numbers are shown to a person, formatted by babel (no Flask here).

A time is shown in the person's own time zone (``users.time_zone``; UTC until it is known),
absolute and relative ("2 Dec 2026, 15:05 CET · 3 hr ago"), with the full timestamp in the
``title`` for hover and the exact instant in ``datetime`` for machines. ``dashboard/web.py``
registers the Jinja filters: ``when``, ``day`` and ``number``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import TIMEDELTA_UNITS, format_date, format_time, format_timedelta
from babel.numbers import format_decimal
from markupsafe import Markup, escape

LOCALE = Locale.parse("en_GB")  # 24-hour clock, day before month; one locale for now
JUST_NOW = timedelta(seconds=60)


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    """The IANA zone of that name, or UTC for none or an unknown name."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return 1 <= len(name) <= 64


@dataclass(frozen=True)
class Moment:
    iso: str  # the instant, for <time datetime>
    short: str  # "2 Dec 2026, 15:05 CET"
    relative: str  # "3 hours ago", "in 2 days", "just now"
    full: str  # "Wednesday, 2 December 2026, 15:05:09 Central European Standard Time"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # the database stores UTC


# Zone names are the slow part of babel's formatting (~0.1 ms each): look each up once per
# zone, offset and abbreviation (standard and summer time differ), not once per time shown.
def _zone_names(zone_name: str, offset: timedelta, tzname: str | None,
                sample: datetime) -> tuple[str, str]:
    tz = zone(zone_name)
    abbreviation = format_time(sample, "z", tzinfo=tz, locale=LOCALE)
    if not (len(abbreviation) <= 5 and abbreviation[0].isalpha()):
        # Zones without a common abbreviation: "GMT+9", "GMT+5:30" rather than "+0900".
        minutes = int(offset.total_seconds() // 60)
        hours, rest = divmod(abs(minutes), 60)
        abbreviation = (f"GMT{'+' if minutes >= 0 else '-'}{hours}"
                        + (f":{rest:02d}" if rest else ""))
    return abbreviation, format_time(sample, "zzzz", tzinfo=tz, locale=LOCALE)


def _names(local: datetime) -> tuple[str, str]:
    return _zone_entry(local)[:2]


def _zone_entry(local: datetime) -> tuple[str, str, str, str]:
    """(abbreviation, long name) and the same escaped for HTML, each worked out once.

    Keyed without the instant itself: any instant with the same zone, offset and
    abbreviation has the same names."""
    key = (local.tzinfo.key, local.utcoffset(), local.tzname())
    entry = _NAMES.get(key)
    if entry is None:
        abbreviation, long_name = _zone_names(*key, local)
        entry = (abbreviation, long_name, str(escape(abbreviation)), str(escape(long_name)))
        if len(_NAMES) >= 1024:
            _NAMES.clear()
        _NAMES[key] = entry
    return entry


_NAMES: dict[tuple, tuple[str, str, str, str]] = {}

# The locale's month and day names, read once: babel's format_datetime looks them up through
# its pattern parser for every call (~40 µs a time; a members page shows 100 times).
_MONTHS = tuple(LOCALE.months["format"]["abbreviated"][m] for m in range(1, 13))
_MONTHS_WIDE = tuple(LOCALE.months["format"]["wide"][m] for m in range(1, 13))
_WEEKDAYS = tuple(LOCALE.days["format"]["wide"][d] for d in range(7))  # Monday first
# _short and _full are these names, digits, spaces and punctuation: when no name has a
# character HTML would escape, their output goes into HTML as it is (checked once, here).
_PLAIN_NAMES = all(str(escape(n)) == n for n in (*_MONTHS, *_MONTHS_WIDE, *_WEEKDAYS))


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))  # "07": a look-up costs less than :02d


def _short(local: datetime) -> str:
    """babel's 'd MMM y, HH:mm' for LOCALE."""
    return (f"{local.day} {_MONTHS[local.month - 1]} {local.year}, "
            f"{_TWO_DIGITS[local.hour]}:{_TWO_DIGITS[local.minute]}")


def _full(local: datetime) -> str:
    """babel's 'EEEE, d MMMM y, HH:mm:ss' for LOCALE."""
    return (f"{_WEEKDAYS[local.weekday()]}, {local.day} {_MONTHS_WIDE[local.month - 1]} "
            f"{local.year}, {_TWO_DIGITS[local.hour]}:{_TWO_DIGITS[local.minute]}:"
            f"{_TWO_DIGITS[local.second]}")


@lru_cache(maxsize=2048)
def _relative_text(unit: str, count: int, future: bool) -> str:
    # babel's wording for exactly ``count`` ``unit``s (an infinite threshold keeps the unit).
    seconds = count * _UNIT_SECONDS[unit]
    return format_timedelta(seconds if future else -seconds, granularity=unit,
                            threshold=float("inf"), add_direction=True, format="short",
                            locale=LOCALE)


_UNIT_SECONDS = dict(TIMEDELTA_UNITS)


def relative(value: datetime, now: datetime | None = None) -> str:
    delta = _aware(value) - (now or datetime.now(UTC))
    if abs(delta) < JUST_NOW:
        return "just now"
    # babel's format_timedelta(threshold=0.85): the largest unit that reaches 0.85 of one,
    # rounded; only the wording goes through babel, once per (unit, count, direction).
    seconds = delta.total_seconds()
    for unit, per_unit in TIMEDELTA_UNITS:
        amount = abs(seconds) / per_unit
        if amount >= 0.85 or unit == "second":
            if unit == "second" and amount > 0:
                amount = max(1, amount)
            return _relative_text(unit, int(round(amount)), seconds >= 0)
    return ""  # not reached: "second" always matches


def _parts(value: datetime, zone_name: str | None,
           now: datetime | None = None) -> tuple[str, str, str, str]:
    """(iso, short, relative, full): Moment's fields without building one (when_html runs
    for every time on a page)."""
    value = _aware(value)
    local = value.astimezone(zone(zone_name))
    abbreviation, long_name = _names(local)
    return (value.isoformat(), f"{_short(local)} {abbreviation}", relative(value, now),
            f"{_full(local)} {long_name}")


def moment(value: datetime, zone_name: str | None, now: datetime | None = None) -> Moment:
    return Moment(*_parts(value, zone_name, now))


def when_html(value: datetime | None, zone_name: str | None, *, empty: str = "—",
              now: datetime | None = None) -> Markup:
    """``<time>`` with the absolute and relative time and the full timestamp on hover."""
    return Markup(_element(value, zone_name, empty, now, "·"))  # noqa: S704


def time_element(value: datetime | None, zone_name: str | None, *, empty: str = "—",
                 now: datetime | None = None) -> str:
    """``when_html`` as a plain ``str``, for code that writes many at once (the members
    table: 100 a page), with the middle dot as the reference ``&#183;``: the element is all
    ASCII (for an ASCII zone name), so a page piece made of them is encoded as it is
    (dashboard/rendering.py). The same text in a browser."""
    return _element(value, zone_name, empty, now, "&#183;")


def _element(value: datetime | None, zone_name: str | None, empty: str,
             now: datetime | None, dot: str) -> str:
    """All but the relative phrase depends only on the instant and the zone, so it is
    memoised per worker (a page seen again, or the next person's view of it, formats no
    dates); the phrase is worked out each time, from a table of escaped phrases."""
    if value is None:
        return _empty_element(empty)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the database stores UTC
    # fold and tzinfo in the key: two instants with the same wall time in one zone (the
    # hour repeated when summer time ends) compare equal as datetimes.
    key = (value, value.fold, value.tzinfo, zone_name, dot)
    head = _TIME_HEADS.get(key)
    if head is None:
        if len(_TIME_HEADS) >= 4096:
            _TIME_HEADS.clear()
        head = _TIME_HEADS[key] = _time_head(value, zone_name, dot)
    return f'{head}{_relative_html(value, now)}</span></time>'


def _time_head(value: datetime, zone_name: str | None, dot: str) -> str:
    """The element up to the relative phrase. Every piece is escaped once where it comes
    from (zone names when first looked up, the locale's names at import; ``isoformat`` is
    digits and ``-:+.T``)."""
    local = value.astimezone(zone(zone_name))
    _, _, abbreviation, long_name = _zone_entry(local)
    short, full = _short(local), _full(local)
    if not _PLAIN_NAMES:
        short, full = escape(short), escape(full)
    return (f'<time datetime="{value.isoformat()}" title="{full} {long_name}">'
            f'{short} {abbreviation} <span class="muted">{dot} ')


_TIME_HEADS: dict[tuple, str] = {}  # (instant, fold, tzinfo, zone, dot) -> _time_head(...)


@lru_cache(maxsize=64)
def _empty_element(empty: str) -> str:
    return str(Markup('<span class="muted">{}</span>').format(empty))


def _relative_html(value: datetime, now: datetime | None) -> str:
    """``escape(relative(value, now))`` for an aware ``value``: the same arithmetic, with the
    escaped wording looked up by (unit, count, direction)."""
    seconds = (value - (now or datetime.now(UTC))).total_seconds()
    distance = -seconds if seconds < 0 else seconds
    if distance < _JUST_NOW_SECONDS:
        return _JUST_NOW_HTML
    for unit, per_unit in TIMEDELTA_UNITS:  # a minute or more: "minute" always reaches it
        amount = distance / per_unit
        if amount >= 0.85:
            key = (unit, int(round(amount)), seconds >= 0)
            break
    html = _RELATIVE_HTML.get(key)
    if html is None:
        if len(_RELATIVE_HTML) >= 4096:
            _RELATIVE_HTML.clear()
        html = _RELATIVE_HTML[key] = str(escape(_relative_text(*key)))
    return html


_JUST_NOW_SECONDS = JUST_NOW.total_seconds()
_JUST_NOW_HTML = str(escape("just now"))
_RELATIVE_HTML: dict[tuple, str] = {}  # a few hundred phrases: units × counts × direction


def day_html(value: date | datetime | None, zone_name: str | None = None) -> Markup:
    """A calendar day ("2 Dec 2026"); a datetime is taken in the person's zone."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    if isinstance(value, datetime):
        value = _aware(value).astimezone(zone(zone_name)).date()
    return Markup('<time datetime="{}">{}</time>').format(
        value.isoformat(), format_date(value, "medium", locale=LOCALE))


def number(value, digits: int | None = None) -> str:
    if value is None:
        return "—"
    if digits is not None:
        return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                              locale=LOCALE)
    return format_decimal(value, locale=LOCALE)


