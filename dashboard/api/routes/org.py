"""GET /api/v1/org: the credential's own organization; PATCH replaces its metadata."""

from __future__ import annotations

from dataclasses import asdict

from dashboard import tenancy
from dashboard.api.auth import current_principal
from dashboard.api.errors import ApiError
from dashboard.api.registry import operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Body, Org
from dashboard.metadata import service as metadata
from dashboard.metadata.rules import Metadata
from dashboard.orgs import service as orgs
from dashboard.permissions import ApiScope


class OrgChange(Body):
    metadata: Metadata


def _org() -> Org:
    session = tenancy.request_session()
    overview = orgs.overview(session)
    if overview is None:  # the gate closed between authentication and this query
        raise ApiError(404, "not_found", "Not found.")
    values = metadata.read(session, metadata.ORG, overview.id)
    return Org.model_validate({**asdict(overview), "metadata": values})


@operation(bp, "GET", "/org", summary="The organization of this credential", tag="Organization",
           scope=ApiScope.ORG_READ, response=Org)
def get_org():
    """The org is the credential's; there is no way to name another one."""
    return _org()


@operation(bp, "PATCH", "/org", summary="Replace the organization's metadata",
           tag="Organization", scope=ApiScope.ORG_WRITE, body=OrgChange, response=Org)
def update_org(body: OrgChange):
    """`metadata` replaces the whole map (`{}` clears it). A change is audited as
    `org.update` and sent as the `organization.updated` event with the map before and
    after."""
    principal = current_principal()
    overview = orgs.overview(tenancy.request_session())
    if overview is None:
        raise ApiError(404, "not_found", "Not found.")
    metadata.replace_org_metadata(tenancy.request_session(), principal.org_id, body.metadata,
                                  actor=principal.actor(), target=f"org:{overview.slug}")
    return _org()
