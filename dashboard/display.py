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
from babel.dates import format_date, format_datetime, format_time, format_timedelta
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
# zone and offset (standard and summer time differ), not once per time on a page.
@lru_cache(maxsize=1024)
def _zone_names(zone_name: str, offset: timedelta, sample: datetime) -> tuple[str, str]:
    tz = zone(zone_name)
    abbreviation = format_time(sample, "z", tzinfo=tz, locale=LOCALE)
    if not (len(abbreviation) <= 5 and abbreviation[0].isalpha()):
        # Zones without a common abbreviation: "GMT+9", "GMT+5:30" rather than "+0900".
        minutes = int(offset.total_seconds() // 60)
        hours, rest = divmod(abs(minutes), 60)
        abbreviation = (f"GMT{'+' if minutes >= 0 else '-'}{hours}"
                        + (f":{rest:02d}" if rest else ""))
    return abbreviation, format_time(sample, "zzzz", tzinfo=tz, locale=LOCALE)


def relative(value: datetime, now: datetime | None = None) -> str:
    delta = _aware(value) - (now or datetime.now(UTC))
    if abs(delta) < JUST_NOW:
        return "just now"
    return format_timedelta(delta, add_direction=True, format="short", locale=LOCALE)


def moment(value: datetime, zone_name: str | None, now: datetime | None = None) -> Moment:
    value = _aware(value)
    tz = zone(zone_name)
    local = value.astimezone(tz)
    abbreviation, long_name = _zone_names(tz.key, local.utcoffset(), local)
    return Moment(
        iso=value.isoformat(),
        short=f"{format_datetime(local, 'd MMM y, HH:mm', locale=LOCALE)} {abbreviation}",
        relative=relative(value, now),
        full=f"{format_datetime(local, 'EEEE, d MMMM y, HH:mm:ss', locale=LOCALE)} {long_name}",
    )


def when_html(value: datetime | None, zone_name: str | None, *, empty: str = "—") -> Markup:
    """``<time>`` with the absolute and relative time and the full timestamp on hover."""
    if value is None:
        return Markup('<span class="muted">{}</span>').format(empty)
    m = moment(value, zone_name)
    # Plain concatenation of escaped parts: Markup.format costs more than babel here.
    return Markup(f'<time datetime="{escape(m.iso)}" title="{escape(m.full)}">'  # noqa: S704
                  f'{escape(m.short)} <span class="muted">· {escape(m.relative)}</span></time>')


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


