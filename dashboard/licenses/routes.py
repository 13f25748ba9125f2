"""The "Plan & features" page of an org. HTTP only: rules live in service.py."""

from __future__ import annotations

from flask import Blueprint, render_template

from dashboard import navigation, tenancy
from dashboard.licenses import service
from dashboard.licenses.features import METRIC_LABELS, Feature, Metric
from dashboard.licenses.web import requires_feature
from dashboard.permissions import Permission, requires

bp = Blueprint("licenses", __name__)

navigation.register("Plan & features", "licenses.plan", Permission.BILLING_VIEW, order=80)


@bp.route("/o/<slug>/plan")
@requires(Permission.BILLING_VIEW)
def plan():
    db = tenancy.request_session()
    usage = service.current_usage(db)
    return render_template(
        "licenses/plan.html",
        entitlements=service.entitlements(db),
        usage=usage,
        metrics=[(m.value, METRIC_LABELS[m]) for m in Metric],
        seats_used=usage[Metric.SEATS],
    )


@bp.route("/o/<slug>/plan/entitlements.json")
@requires(Permission.BILLING_VIEW)
@requires_feature(Feature.API_ACCESS)
def entitlements_json():
    """The plan page as data, for integrations (an API-access feature)."""
    db = tenancy.request_session()
    e = service.entitlements(db)
    return {
        "plan": e.plan,
        "effective_plan": e.effective_plan,
        "license": {
            "state": e.license_state,
            "valid_from": e.valid_from.isoformat() if e.valid_from else None,
            "valid_until": e.valid_until.isoformat() if e.valid_until else None,
        },
        "features": {
            key: {"enabled": f.enabled, "source": f.source,
                  "until": f.until.isoformat() if f.until else None}
            for key, f in e.features.items()
        },
        "seats": {"used": service.seats_used(db), "limit": e.seat_limit},
        "rate_limit_per_minute": e.rate_limit_per_minute,
        "quotas": {
            metric: {"limit": q.limit, "hard": q.hard, "period": q.period}
            for metric, q in e.quotas.items()
        },
    }
