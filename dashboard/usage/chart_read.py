"""The chart data's one read (the org's entitlements, its rollup revision and, unless this
worker holds a report of that revision, the rollups) riding in the session check's
statement (``principal.principal_with``): one statement per request, not two (issue 20,
session 11). No Flask routing here; the route (routes.py) wires it.

The read runs in the check's statement, under its RLS context, joined to the check's one
row: for the org the check found (``chk.org_id``: NULL, and nothing read, when the session
is not live, the membership is gone or the org is not active), so the revision that decides
whether a kept report is served is read in the same statement, one snapshot, as every
check of the session. The rollups are taken only where a statement packed into the
context statement reads the org's own cell tables (the shared tier,
``cell_reads.cells_packable``, as the check admitted it); elsewhere, and whenever the check
did not carry the read (Flask-Login's stock path, a metadata filter, a bad query), the
route reads as before (``reports.usage_json``).
"""

from __future__ import annotations

import uuid

from flask import g, session

from dashboard import cell_reads, tenancy
from dashboard.licenses import service as licenses
from dashboard.usage import reports
from dashboard.usage.metrics import METRICS

# The entitlements and rollups of the org the check read (``chk.org_id``, ``chk.plan``).
RIDER_SQL = (
    f"SELECT {licenses.CHECKED_ORG_ENTITLEMENTS_COLUMNS}, {reports.ROLLUP_COLUMNS}"
    f" FROM {licenses.CHECKED_ORG_ENTITLEMENTS_FROM} {reports.CHECKED_ORG_ROLLUP_JOINS}"
    " WHERE o.id IS NOT NULL"
)
_READ = "chart_read"  # on g: the RollupRead whose parameters the check's statement carried


def query(req) -> tuple[int, tuple[str, ...]] | None:
    """(days, metrics) of a chart data request without a metadata filter, or None (a bad
    or filtered query: the route answers it, not the rider)."""
    args = req.args
    raw = args.get("range", str(reports.DEFAULT_RANGE))
    if not raw.isdigit() or int(raw) not in reports.RANGES:
        return None
    metric = args.get("metric")
    if metric is not None and metric not in METRICS:
        return None
    if any(key.startswith("metadata") for key in args):
        return None
    return int(raw), (metric,) if metric else tuple(METRICS)


def rider(req) -> tuple[str, dict] | None:
    """``principal_with``'s rider: the read for the token's org, or None."""
    wanted = query(req)
    org = tenancy.canonical_id(session.get("oid") or "")
    if wanted is None or not org:
        return None
    read = reports.RollupRead(uuid.UUID(org), wanted[0], reports.today_utc(), wanted[1])
    g.chart_read = read
    params = read.params()
    del params["org_id"]  # the rider reads chk.org_id: the org the check found
    return RIDER_SQL, {**params, **licenses.entitlements_params()}


def carried_json(org_id: uuid.UUID, days: int, metrics: tuple[str, ...]) -> bytes | None:
    """The chart data's body from the read the check's statement carried, or None (not
    carried, not for this org and query, or not usable on this org's tier)."""
    request_g = g._get_current_object()
    read = request_g.pop(_READ, None)
    carried = request_g.get("principal_rider")
    if (
        read is None
        or carried is None
        or read.org_id != org_id
        or read.days != days
        or read.metrics != metrics
    ):
        return None
    row = carried[1]
    if row.has_license is None:  # the org row not visible: the route's own read decides
        return None
    db = tenancy.request_session()
    org = tenancy.context_of(db).org_id  # the key the transaction's entitlements go by
    if org is None or str(org) != str(org_id) or not cell_reads.cells_packable(db):
        return None  # (not packable: the rollups were read from the shared tables)
    licenses.remember_entitlements(db, org, row)
    read.take(row)
    return reports.json_of(read.report(db))
