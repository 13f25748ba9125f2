"""GET /api/v1/features/<key>: does the credential's org have this feature right now?"""

from __future__ import annotations

from typing import Literal

from dashboard import tenancy
from dashboard.api.errors import ApiError
from dashboard.api.registry import operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Output
from dashboard.licenses import service as licenses
from dashboard.permissions import ApiScope


class FeatureOut(Output):
    key: str
    name: str
    description: str
    enabled: bool
    source: Literal["plan", "override", "not-in-plan", "license-inactive"]
    why: str


@operation(bp, "GET", "/features/<feature_key>", summary="Whether the organization has a feature",
           tag="Organization", scope=ApiScope.ORG_READ, response=FeatureOut)
def get_feature(feature_key: str):
    """Answers from the org's plan, license and overrides as of this request (the same
    entitlements the dashboard's feature gates use). An unknown key is a 404."""
    state = licenses.entitlements(tenancy.request_session()).features.get(feature_key)
    if state is None:
        raise ApiError(404, "unknown_feature", "There is no feature with that key.")
    return FeatureOut(
        key=state.key, name=state.name, description=state.description,
        enabled=state.enabled, source=state.source, why=state.why,
    )
