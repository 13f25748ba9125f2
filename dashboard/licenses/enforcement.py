"""Where each plan feature is enforced, for checks that are not a whole route.

Routes gated as a whole carry ``@requires_feature`` (dashboard/licenses/web.py) and are found
in the URL map. Checks inside a flow (an API key's org without API access, a SCIM token's org
without SCIM, a usage range longer than the basic history) call ``require`` or read
``has_feature`` and register themselves here with ``point(...)`` at import time, so
``tests/security/test_catalogue_honesty.py`` can list every enforcement point of every feature
and call each one both ways. A feature in the catalogue with no point fails that test: the
catalogue may only sell what the code checks.

No Flask here; the 403 page / JSON for ``FeatureNotIncluded`` lives in licenses/web.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from dashboard.licenses.entitlements import Entitlements
from dashboard.licenses.features import Feature


@dataclass(frozen=True)
class EnforcementPoint:
    feature: Feature
    name: str  # stable key; the catalogue test has one probe per name
    description: str


POINTS: dict[str, EnforcementPoint] = {}


def point(feature: Feature, name: str, description: str) -> EnforcementPoint:
    """Declare that the calling module refuses ``feature``'s use without it."""
    found = EnforcementPoint(Feature(feature), name, description)
    if POINTS.setdefault(name, found) != found:
        raise ValueError(f"enforcement point {name!r} declared twice")
    return found


class FeatureNotIncluded(Exception):
    """The org's plan (or an override) does not include ``feature`` right now."""

    def __init__(self, feature: Feature, entitlements: Entitlements) -> None:
        super().__init__(feature.value)
        self.feature = feature
        self.entitlements = entitlements


def require(session: Session, feature: Feature) -> None:
    """Raise FeatureNotIncluded unless the session's org has ``feature`` now."""
    from dashboard.licenses import service  # service imports audit; keep this module light

    entitled = service.entitlements(session)
    if not entitled.has(feature):
        raise FeatureNotIncluded(Feature(feature), entitled)
