"""Server-rendered SVG charts from one small Jinja template, fit for a strict CSP.

Python computes the geometry (a polyline per series, axis ticks); ``templates/usage/
partials/chart.svg`` writes it out. No inline style, no script: usage.css styles the chart
through its class names (``serie-N``/``color-N``, ``line``, ``dot``, ``axis``, ``guide``).
Every figure is also in the data table under the chart. A 365-day chart costs ~0.3 ms
(pygal, before issue 20, took 20-30 ms) and its 365-row table about as much.

The usage page keeps its whole charts section with the report (dashboard/usage/routes.py): a
report served from the revision cache (cache.py) is drawn once, and the drawing goes with it.
Sparklines are memoised per worker on their content (metric and values: the same figures
give the same SVG, so the key needs no org and no invalidation); only the last 64 are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from babel.numbers import format_compact_decimal
from flask import current_app
from markupsafe import Markup, escape

from dashboard.usage.metrics import Metric, format_value
from dashboard.usage.reports import MetricReport

_TEMPLATE = "usage/partials/chart.svg"


@dataclass(frozen=True)
class Series:
    d: str  # SVG path data: "M x y L x y ...", a new "M" after a gap (a day without reading)
    dots: tuple[tuple[str, str], ...] = ()
    css: str = "color-0"  # usage.css: color-0 the figures, color-1 the quota, partial today


@dataclass(frozen=True)
class Chart:
    id: str
    css_class: str
    label: str
    width: int
    height: int
    series: list[Series]
    stretch: bool = False  # a sparkline fills its box; its proportions carry no meaning
    left: str = "0"  # the plot area's edges, for the axis guides
    right: str = "0"
    bottom: str = "0"
    y_ticks: list[tuple[str, str]] = field(default_factory=list)  # (y, text)
    x_ticks: list[tuple[str, str]] = field(default_factory=list)  # (x, text)
    no_data: str = ""
    partial_label: tuple[str, str] | None = None  # (x, y) of "today so far"


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ticks(top: float, count: int = 5, *, whole: bool = True) -> list[float]:
    """0, step, 2*step... up to at least ``top``, with a step of 1, 2 or 5 times a power of 10
    (at least 1 for ``whole`` figures such as counts)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if whole:
        step = max(step, 1.0)
    return [round(i * step, 6) for i in range(math.ceil(top / step - 1e-9) + 1)]


_BINARY = ("B", "KiB", "MiB", "GiB", "TiB")
CHAR_PX = 6.6  # an 11 px label's average character width, to keep labels off the plot


def y_axis(metric: Metric, top: float) -> tuple[list[float], list[str]]:
    """Ticks and their labels. Bytes tick at round numbers of ONE binary unit chosen from the
    top value (0, 2 GiB, 4 GiB...), counts in compact form (0, 500, 1K, 1.5K), zero as "0"."""
    if metric.unit == "bytes":
        power = 0
        while top >= 1024 ** (power + 1) and power < len(_BINARY) - 1:
            power += 1
        base = 1024 ** power
        ticks = [t * base for t in nice_ticks(top / base, 4, whole=power == 0)]
        return ticks, [f"{_n(t / base)} {_BINARY[power]}" if t else "0" for t in ticks]
    ticks = nice_ticks(top, 4)
    # "en" rather than LOCALE: en_GB writes 1.5m and 500k.
    return ticks, [format_compact_decimal(t, locale="en", fraction_digits=1) for t in ticks]


def _path(values: list[float | None], xs: list[str], y_of) -> Series:
    parts: list[str] = []
    pen_down = False
    for x, value in zip(xs, values, strict=True):
        if value is None:  # an interruption: the line resumes at the next reading
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'} {x} {y_of(value):.1f}")
        pen_down = True
    return Series(" ".join(parts))


def _draw(chart_id: str, css_class: str, label: str, lines: list[list[float | None]], *,
          width: int, height: int, margin: tuple[float, float, float, float],
          axes: Metric | None, x_label=None, dots: bool = False,
          stretch: bool = False, no_data: str = "", level: float | None = None,
          partial_last: bool = False) -> Markup:
    """``lines``: series of daily values (None: no reading); ``level``: a flat line (the
    quota), drawn as one segment; ``x_label(i)``: the text under day i (7 of them);
    ``partial_last``: the last day is still running (today), so it is drawn apart, dashed,
    instead of as a sudden drop."""
    top_m, right_m, bottom_m, left_m = margin
    days = max((len(line) for line in lines), default=0)
    present = [v for line in lines for v in line if v is not None]
    if level is not None and present:
        present.append(level)
    if not present:
        chart = Chart(chart_id, css_class, label, width, height, [], stretch, no_data=no_data)
        return _render(chart)
    labels: list[str] = []
    if axes:
        ticks, labels = y_axis(axes, max(present))
        # The widest label decides the left margin: labels never run into the plot or off.
        left_m = max(left_m, 10 + CHAR_PX * max(len(text) for text in labels))
    else:
        ticks = [0.0, max(max(present), 1.0)]
    y_max = ticks[-1]
    plot_h = height - top_m - bottom_m
    plot_w = width - left_m - right_m
    step = plot_w / max(days - 1, 1)
    xs = [f"{left_m + i * step:.1f}" for i in range(days)]
    scale = plot_h / y_max

    def y_of(value: float) -> float:
        return top_m + plot_h - value * scale

    first = lines[0]
    today = first[-1] if partial_last and days > 1 else None
    if today is not None:  # the complete days as usual; today on its own, below
        lines = [first[:-1] + [None], *lines[1:]]
    series = [_path(line, xs, y_of) for line in lines]
    if dots and series:
        series[0] = Series(series[0].d, tuple(
            (x, f"{y_of(v):.1f}") for x, v in zip(xs, lines[0], strict=True) if v is not None))
    if level is not None:
        y = f"{y_of(level):.1f}"
        series.append(Series(f"M {xs[0]} {y} L {xs[-1]} {y}", css="color-1"))
    partial_label = None
    if today is not None:
        before = first[-2]
        start = f"M {xs[-2]} {y_of(before):.1f} L " if before is not None else "M "
        series.append(Series(f"{start}{xs[-1]} {y_of(today):.1f}",
                             ((xs[-1], f"{y_of(today):.1f}"),), css="color-0 partial"))
        partial_label = (xs[-1], _n(max(y_of(today) - 8, top_m + 10)))
    chart = Chart(chart_id, css_class, label, width, height, series, stretch,
                  left=_n(left_m), right=_n(width - right_m), bottom=_n(height - bottom_m),
                  partial_label=partial_label)
    if axes is not None:
        chart.y_ticks.extend((_n(y_of(t)), text) for t, text in zip(ticks, labels, strict=True))
        if x_label is not None:
            every = max(1, math.ceil(days / 7))
            chart.x_ticks.extend((xs[i], x_label(i)) for i in range(0, days, every))
    return _render(chart)


def _render(chart: Chart) -> Markup:
    # The bare template: it needs the chart only, not the context processors of a page.
    template = current_app.jinja_env.get_template(_TEMPLATE)
    return Markup(template.render(chart=chart))  # noqa: S704 - an autoescaped template


def _key(item: MetricReport) -> tuple:
    return item.metric, tuple(item.points), item.quota


def usage_chart(item: MetricReport) -> Markup:
    """The range's daily figures, with the plan's quota as a dashed line."""
    return _usage_chart(*_key(item), used_before=bool(item.previous))


def table_rows(item: MetricReport) -> Markup:
    """The data table's rows under a chart, newest day first."""
    return _table_rows(*_key(item))


def _report(metric, points, quota) -> MetricReport:
    return MetricReport(metric, list(points), None, None, quota, 0)


def _usage_chart(metric: Metric, points: tuple, quota, used_before: bool = False) -> Markup:
    item = _report(metric, points, quota)
    days = len(item.points)
    line = item.quota_line
    label = f"{item.metric.label}, daily, last {days} days"
    if line is not None:
        label += f"; dashed line: plan quota ({format_value(item.metric, round(line))}"
        daily_share = item.quota.period == "month" and item.metric.per_period.value == "sum"
        label += " per day)" if daily_share else ")"
    points = item.points
    values = item.values
    if not any(values):  # nothing, or only zeros: say so rather than draw a flat 0
        values = []
        no_data = f"No usage in the last {days} days" if used_before else "No data yet"
    else:
        label += "; the last point is today, so far"
        no_data = ""
    return _draw(
        f"usage-chart-{item.metric.name}", "usage-chart", label, [values],
        width=720, height=260, margin=(12, 28, 24, 40), axes=item.metric,
        x_label=lambda i: f"{points[i].day:%b} {points[i].day.day}", dots=days <= 31,
        no_data=no_data, level=line, partial_last=True,
    )


def sparkline(item: MetricReport) -> Markup:
    """A tiny trend line for the org home page (figures are shown beside it as text)."""
    return _sparkline(item.metric, tuple(item.values))


@lru_cache(maxsize=64)
def _sparkline(metric: Metric, values: tuple) -> Markup:
    return _draw(
        f"usage-spark-{metric.name}", "usage-spark", f"{metric.label}, last {len(values)} days",
        [[v or 0 for v in values]], width=160, height=36, margin=(1, 1, 1, 1),
        axes=None, stretch=True,
    )


def _table_rows(metric: Metric, points: tuple, quota) -> Markup:
    """One ``<tr>`` per day (1,460 on a 365-day page). Written here, like the chart's path,
    because a template loop cost ~4 µs a row (20 ms a page); text is escaped."""
    rows = []
    for n, (day, value) in enumerate(reversed(points)):
        iso = day.isoformat()  # a date and an int need no escaping; the formatted text is
        raw = "" if value is None else int(value)
        today = ' <span class="muted">(today, so far)</span>' if n == 0 else ""
        rows.append(f'<tr><td><time datetime="{iso}">{iso}</time>{today}</td>'
                    f'<td data-value="{raw}">{escape(format_value(metric, value))}</td></tr>')
    return Markup("\n".join(rows))  # noqa: S704 - dates, integers and escaped text only
