"""Usage page (charts, tables, CSV, JSON) and the usage events API. HTTP only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from markupsafe import Markup

from dashboard import navigation, tenancy
from dashboard.api.auth import api_scope
from dashboard.auth.principal import principal_with
from dashboard.errors import json_error
from dashboard.metadata import rules as metadata_rules
from dashboard.permissions import ApiScope, Permission, requires
from dashboard.security import csrf
from dashboard.usage import chart_read, charts, plan_usage, reports, service, validation
from dashboard.usage.metrics import METRICS, format_value
from dashboard.usage.web import current_org_id, quota_exceeded_response

bp = Blueprint("usage", __name__)
navigation.register("Usage", "usage.index", Permission.USAGE_VIEW, order=40)
plan_usage.register()


def _range() -> int | None:
    raw = request.args.get("range", str(reports.DEFAULT_RANGE))
    return int(raw) if raw.isdigit() and int(raw) in reports.RANGES else None


def _bad_range():
    message = f"Choose a range of {', '.join(map(str, reports.RANGES))} days."
    return render_template("errors/error.html", status=400, message=message), 400


def _report(days: int, **kwargs) -> reports.UsageReport:
    return reports.usage_report(tenancy.request_session(), g.membership.org_id, days, **kwargs)


def _metadata_filter() -> tuple[str, str] | None:
    """``?metadata[key]=value``: only events tagged with it (MetadataError when malformed)."""
    return metadata_rules.parse_filter(request.args.items(multi=True))


@bp.route("/o/<slug>/usage")
@requires(Permission.USAGE_VIEW)
def index():
    days = _range()
    if days is None:
        return _bad_range()
    try:
        wanted = _metadata_filter()
    except metadata_rules.MetadataError as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    report = _report(days, metadata=wanted)
    section = _charts_section(report, wanted, reports.locked_ranges(tenancy.request_session()))
    if request.headers.get("HX-Request"):
        return section
    return render_template("usage/index.html", report=report, charts_section=section,
                           format_value=format_value)  # the quota banner's figures


_SECTION = "usage/partials/charts.html"


def _charts_section(report: reports.UsageReport, wanted, locked_ranges) -> Markup:
    """The page's charts, figures and tables (also the htmx answer to a range link).

    Written once per report and kept with it (``report.memo``: a report served from the
    revision cache brings it along): it depends only on the report and on what is in the
    key: the links (the org's slug, the script root, the metadata filter) and the ranges the
    plan locks. Nothing about the viewer is in it.
    """
    filter_args = {f"metadata[{wanted[0]}]": wanted[1]} if wanted else {}
    # One link stands for all of them in the key (url_for costs ~40 µs): the same rules
    # (script root, the org's slug, the filter) build them all.
    this_range = url_for("usage.index", range=report.days, **filter_args)
    key = (this_range, locked_ranges, wanted)
    kept = report.memo.get("section")
    if kept is not None and kept[0] == key:
        return kept[1]
    links = {days: url_for("usage.index", range=days, **filter_args) for days in reports.RANGES}
    csv_link = url_for("usage.export_csv", range=report.days, **filter_args)
    context = {
        "report": report,
        # Kept on the range links and the CSV link: ?metadata[key]=value.
        "metadata_filter": wanted,
        "show_all_link": url_for("usage.index", range=report.days) if wanted else None,
        "range_links": links,
        "csv_link": csv_link,
        "charts": {m.metric.name: charts.usage_chart(m) for m in report.metrics},
        "tables": {m.metric.name: charts.table_rows(m) for m in report.metrics},
        "locked_ranges": locked_ranges,
        "format_value": format_value,
    }
    # The bare template: it needs none of the page's context processors.
    section = Markup(current_app.jinja_env.get_template(_SECTION).render(context))  # noqa: S704
    report.memo["section"] = (key, section)
    return section


@bp.route("/o/<slug>/usage.csv")
@requires(Permission.USAGE_VIEW)
def export_csv():
    """The data tables as CSV; ``?metadata[key]=value`` keeps the events tagged with it."""
    days = _range()
    if days is None:
        return _bad_range()
    try:
        wanted = _metadata_filter()
    except metadata_rules.MetadataError as exc:
        return render_template("errors/error.html", status=400, message=exc.message), 400
    report = _report(days, metadata=wanted)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(reports.csv_rows(report))
    filename = f"usage-{g.membership.slug}-{days}d.csv"
    return Response(
        out.getvalue(), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/o/<slug>/usage/data.json")
# The entitlements and the rollups ride in the session check's statement (chart_read.py): one
# statement, a transaction of its own, where the org's cells are the shared schema's; else
# read by a statement of their own after it (issue 20).
@principal_with(chart_read.rider)
@requires(Permission.USAGE_VIEW)
def data():
    """Chart data as JSON: ``?range=365`` and optionally ``&metric=api_calls`` and
    ``&metadata[key]=value`` (only events tagged with it)."""
    days = _range()
    metric = request.args.get("metric")
    if days is None or (metric is not None and metric not in METRICS):
        return json_error(400, "invalid_query", "Use range in 7, 30, 90, 365 and a known metric.")
    try:
        wanted = _metadata_filter()
    except metadata_rules.MetadataError as exc:
        return json_error(400, "invalid_query", exc.message)
    metrics = (metric,) if metric else tuple(METRICS)
    body = None if wanted else chart_read.carried_json(g.membership.org_id, days, metrics)
    if body is None:
        body = reports.usage_json(tenancy.request_session(), g.membership.org_id, days,
                                  metrics=metrics, metadata=wanted,
                                  alone=True)  # principal_with: no transaction to share
    return Response(body, mimetype="application/json")


@bp.route("/api/v1/usage/events", methods=["POST"])
@csrf.exempt  # checked below unless a Bearer credential (no ambient authority) is the caller
@api_scope(ApiScope.USAGE_WRITE, permission=Permission.USAGE_REPORT, browser_session=True)
def ingest():
    """Record a batch of usage events for the caller's org, all or nothing.

    Callers: ``Authorization: Bearer`` with an org API key (usage:write) or a user's access
    token (POST /auth/token), or the browser session with the X-CSRFToken header. The
    request itself counts as one API call.
    """
    if g.get("access_claims") is None:
        csrf.protect()  # a cookie session: CSRF token required as for any other POST
    now = datetime.now(UTC)
    try:
        events = validation.parse_batch(request.get_json(silent=True), now)
        result = service.record_batch(
            tenancy.request_session(), current_org_id(), [*events, service.api_call_event(now)]
        )
    except validation.InvalidBatch as exc:
        return json_error(exc.status, exc.code, exc.message)
    except service.QuotaExceeded as exc:
        return quota_exceeded_response(exc)
    return {
        "accepted": result.accepted - 1,  # less this request's own api_calls event
        "duplicates": result.duplicates,
        "quota_warnings": [
            {"metric": w.metric, "limit": w.limit, "used": w.used, "hard": w.hard,
             "period": w.period, "percent": round(w.percent, 1), "exceeded": w.exceeded}
            for w in result.warnings
        ],
    }
