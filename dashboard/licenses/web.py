"""Feature gates for routes and templates: ``requires_feature``, ``has_feature``, the 403.

The entitlements come from ``service.entitlements`` on the request's RLS-scoped session, so
they are computed at most once per request and never cached in the process.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, render_template

from dashboard import tenancy
from dashboard.errors import json_error, wants_json
from dashboard.licenses import service
from dashboard.licenses.enforcement import FeatureNotIncluded
from dashboard.licenses.entitlements import Entitlements
from dashboard.licenses.features import Feature
from dashboard.licenses.forms import UpgradeRequestForm

# Every view wrapped by requires_feature, so a test can check each one is actually routed
# (a gate written above @bp.route would guard nothing and be invisible in the URL map).
GATED_VIEWS: list[Callable] = []


__all__ = ["FeatureNotIncluded", "has_feature", "requires_feature"]


def current_entitlements() -> Entitlements | None:
    """The request's org's entitlements; None outside an org."""
    session = tenancy.request_session()
    if tenancy.context_of(session).org_id is None:
        return None
    try:
        return service.entitlements(session)
    except service.OrgNotVisible:
        return None


def has_feature(key: Feature | str) -> bool:
    entitlements = current_entitlements()
    return bool(entitlements and entitlements.has(key))


def requires_feature(key: Feature | str) -> Callable[[Callable], Callable]:
    """Refuse the route (403, nothing done) unless the org has ``key`` right now.

    Put it under the access rule::

        @bp.route(...)
        @requires(Permission.X)
        @requires_feature(Feature.SSO)

    Records ``view.required_feature`` so tests can find every gated route in the URL map.
    """
    feature = Feature(key)  # a typo fails at import time

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            entitlements = current_entitlements()
            if entitlements is None:
                abort(404)
            if not entitlements.has(feature):
                raise FeatureNotIncluded(feature, entitlements)
            return view(*args, **kwargs)

        wrapper.required_feature = feature.value  # type: ignore[attr-defined]
        GATED_VIEWS.append(wrapper)
        return wrapper

    return decorator


def init_app(app) -> None:
    @app.errorhandler(FeatureNotIncluded)
    def _not_included(exc: FeatureNotIncluded):
        state = exc.entitlements.features[exc.feature.value]
        message = (
            f"{state.name} is not included in your organization's "
            f"{exc.entitlements.effective_plan_name} plan."
        )
        if wants_json():
            return json_error(403, "feature_not_included", message)
        contacts = service.who_can_upgrade(tenancy.request_session())
        form = UpgradeRequestForm(formdata=None, feature=exc.feature.value)
        return (
            render_template(
                "licenses/not_included.html",
                feature=state,
                message=message,
                contacts=contacts,
                entitlements=exc.entitlements,
                upgrade_form=form,
            ),
            403,
        )

    # A global, not a context processor: nothing to compute per render. The license notice
    # is base.html's (dashboard/layout.py's license_notice).
    app.jinja_env.globals["has_feature"] = has_feature
