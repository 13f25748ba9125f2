"""The org's audit log page, its htmx results fragment, CSV and JSON-lines exports and the
chain verification. HTTP only."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request, stream_with_context

from dashboard import navigation, tenancy
from dashboard.audit import chain, csv_export, filters, service
from dashboard.licenses.features import Feature
from dashboard.licenses.web import requires_feature
from dashboard.permissions import Permission, requires

bp = Blueprint("audit", __name__)
navigation.register("Audit log", "audit.index", Permission.AUDIT_VIEW, order=80)


def _parse():
    try:
        zone_name = getattr(g.get("principal"), "time_zone", None)
        return filters.parse(request.args, zone_name), None
    except filters.FilterError as exc:
        return filters.AuditFilters(), str(exc)


@bp.route("/o/<slug>/audit")
@requires(Permission.AUDIT_VIEW)
def index():
    chosen, error = _parse()
    session = tenancy.request_session()
    try:
        page = service.list_events(session, chosen, cursor=request.args.get("cursor"))
    except service.BadCursor as exc:
        page, error = service.AuditPage([], None), str(exc)
    context = {"page": page, "filters": chosen, "error": error}
    if request.headers.get("HX-Request"):
        return render_template("audit/partials/results.html", **context), 400 if error else 200
    return (
        render_template("audit/index.html", actions=service.distinct_actions(session), **context),
        400 if error else 200,
    )


@bp.route("/o/<slug>/audit.csv")
@requires(Permission.AUDIT_VIEW)
@requires_feature(Feature.AUDIT_EXPORT)
def export_csv():
    chosen, error = _parse()
    if error:
        return render_template("errors/error.html", status=400, message=error), 400
    session = tenancy.request_session()
    events = service.iter_events(session, chosen)
    filename = f"audit-{g.membership.slug}.csv"

    def stream():
        # The rows are read after the request's session was closed, which checks a pooled
        # connection out again; give it back when the download ends (or is abandoned).
        try:
            yield from csv_export.rows(events)
        finally:
            session.close()

    return Response(
        stream_with_context(stream()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/o/<slug>/audit/verify")
@requires(Permission.AUDIT_VIEW)
def verify():
    """Recompute the org's hash chain in the database and say whether it is intact."""
    verdict = chain.verify_current(tenancy.request_session())
    return render_template("audit/verify.html", verdict=verdict), 200


@bp.route("/o/<slug>/audit.jsonl")
@requires(Permission.AUDIT_VIEW)
@requires_feature(Feature.AUDIT_EXPORT)
def export_jsonl():
    """Every event in chain order with the exact text its hash covers, for offline checks
    (scripts/verify_audit_export.py)."""
    import json

    session = tenancy.request_session()
    rows = chain.export_rows(session)

    def stream():
        try:
            for row in rows:
                yield json.dumps(row, ensure_ascii=False) + "\n"
        finally:
            session.close()

    return Response(
        stream_with_context(stream()),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition":
                 f'attachment; filename="audit-{g.membership.slug}.jsonl"'},
    )
