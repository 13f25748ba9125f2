"""Usage page (charts, tables, CSV, JSON) and the usage events API. HTTP only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Blueprint, Response, g, render_template, request

from dashboard import navigation, tenancy
from dashboard.api.auth import api_scope
from dashboard.errors import json_error
from dashboard.metadata import rules as metadata_rules
from dashboard.permissions import ApiScope, Permission, requires
from dashboard.security import csrf
from dashboard.usage import charts, plan_usage, reports, service, validation
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
    context = {
        "report": report,
        # Kept on the range links and the CSV link: ?metadata[key]=value.
        "metadata_filter": wanted,
        "filter_args": {f"metadata[{wanted[0]}]": wanted[1]} if wanted else {},
        "charts": charts.report_charts(report),
        "tables": charts.report_tables(report),
        "ranges": reports.RANGES,
        "locked_ranges": reports.locked_ranges(tenancy.request_session()),
        "format_value": format_value,
    }
    if request.headers.get("HX-Request"):
        return render_template("usage/partials/charts.html", **context)
    return render_template("usage/index.html", **context)


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
    body = reports.usage_json(tenancy.request_session(), g.membership.org_id, days,
                              metrics=(metric,) if metric else tuple(METRICS), metadata=wanted)
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
