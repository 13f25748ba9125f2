"""Server-rendered SVG charts (pygal), made fit for a strict Content-Security-Policy.

pygal draws the chart; we then drop what the CSP would block anyway — its inline ``<style>``
and the tooltip overlay (which relies on pygal's scripts and a ``style`` attribute) — and
style the chart from static/css/usage.css through pygal's class names. The result needs no
JavaScript, works offline, and every figure is also in the data table under the chart.
"""

from __future__ import annotations

import pygal
from markupsafe import Markup
from pygal.etree import etree
from pygal.style import Style

from dashboard.usage.metrics import Metric, format_value
from dashboard.usage.reports import MetricReport

# Colours come from usage.css; pygal only needs a style object to draw with.
_STYLE = Style(background="transparent", plot_background="transparent",
               font_family="inherit", colors=("#2563eb", "#b91c1c"))


def _formatter(metric: Metric):
    return lambda value: format_value(metric, None if value is None else int(value))


def usage_chart(item: MetricReport) -> Markup:
    """The range's daily figures, with the plan's quota as a dashed line."""
    days = len(item.points)
    chart = pygal.Line(
        width=720, height=260, explicit_size=False, style=_STYLE, js=[],
        disable_xml_declaration=True, show_legend=False, fill=False,
        show_dots=days <= 31, dots_size=2.5, allow_interruptions=True,
        include_x_axis=True, show_minor_x_labels=False, x_labels_major_count=7,
        truncate_label=-1, value_formatter=_formatter(item.metric),
        margin=8, margin_right=28, spacing=8, min_scale=3, max_scale=6, no_data_text="No usage yet",
    )
    chart.x_labels = [p.day.strftime("%b %-d") for p in item.points]
    chart.add(item.metric.label, item.values)
    line = item.quota_line
    if line is not None:
        chart.add("Quota", [line] * days, fill=False, show_dots=False)
    label = f"{item.metric.label}, daily, last {days} days"
    if line is not None:
        label += f"; dashed line: plan quota ({format_value(item.metric, round(line))}"
        daily_share = item.quota.period == "month" and item.metric.per_period.value == "sum"
        label += " per day)" if daily_share else ")"
    return _clean(chart, f"usage-chart-{item.metric.name}", label, "usage-chart")


def sparkline(item: MetricReport) -> Markup:
    """A tiny trend line for the org home page (figures are shown beside it as text)."""
    chart = pygal.Line(
        width=160, height=36, explicit_size=False, style=_STYLE, js=[],
        disable_xml_declaration=True, show_legend=False, fill=False, show_dots=False,
        show_x_labels=False, show_y_labels=False, show_x_guides=False, show_y_guides=False,
        include_x_axis=True, allow_interruptions=True, margin=1, spacing=0,
        no_data_text="",
    )
    chart.add(item.metric.label, [v or 0 for v in item.values])
    svg = _clean(chart, f"usage-spark-{item.metric.name}",
                 f"{item.metric.label}, last {len(item.points)} days", "usage-spark",
                 stretch=True)
    return svg


def _clean(chart, chart_id: str, label: str, css_class: str, stretch: bool = False) -> Markup:
    root = chart.render_tree()
    if stretch:  # a sparkline fills its box; its proportions carry no meaning
        root.set("preserveAspectRatio", "none")
    for parent in list(root.iter()):
        for child in list(parent):
            drop = (
                callable(child.tag)  # comments
                or _local(child.tag) in ("style", "script")
                or "tooltip-overlay" in child.get("class", "").split()
            )
            if drop:
                parent.remove(child)
    root.set("id", chart_id)
    root.set("class", f"pygal-chart {css_class}")
    root.set("role", "img")
    root.set("aria-label", label)
    for child in root:  # pygal's placeholder title becomes ours
        if _local(child.tag) == "title":
            child.text = label
            break
    return Markup(etree.tostring(root, encoding="unicode"))  # noqa: S704 - our own SVG tree


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
