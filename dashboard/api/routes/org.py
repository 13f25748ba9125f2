"""GET /api/v1/org: the credential's own organization."""

from __future__ import annotations

from dashboard import tenancy
from dashboard.api.errors import ApiError
from dashboard.api.registry import operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Org
from dashboard.orgs import service as orgs
from dashboard.permissions import ApiScope


@operation(bp, "GET", "/org", summary="The organization of this credential", tag="Organization",
           scope=ApiScope.ORG_READ, response=Org)
def get_org():
    """The org is the credential's; there is no way to name another one."""
    overview = orgs.overview(tenancy.request_session())
    if overview is None:  # the gate closed between authentication and this query
        raise ApiError(404, "not_found", "Not found.")
    return Org.model_validate(overview)
