"""What Tenantdesk's SCIM service announces and how a request is served (scim2-server).

One provider for every org (the resources, schemas and capabilities are the same; the org
is the token's). The policy accepts what real IdPs send: Microsoft Entra ID's ``remove``
with a ``value`` array and ``Replace`` on a value filter that matches nothing yet (both
settings of scim2-models), and its ``"True"``/``"False"`` strings and capitalised op names
(scim2-models reads those as booleans and ops already). Anything else outside RFC 7643/7644
(unknown attributes or schemas) is refused. No Flask here.
"""

from __future__ import annotations

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    External,
    Filter,
    Group,
    Patch,
    Reference,
    ResourceType,
    SCIMException,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.service import ScimService

MAX_RESULTS = 200  # items per page of a list

CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=False),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="OAuth Bearer Token",
            description="The organization's SCIM token (td_scim_...), from its SCIM page.",
            spec_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc6750"),
            primary=True,
        )
    ],
)

POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[
        ResourceType.from_resource(User[EnterpriseUser]),
        ResourceType.from_resource(Group),
    ],
    config=CONFIG,
    policy=POLICY,
)
SERVICE = ScimService(PROVIDER)


def serve(request: ScimRequest, storage) -> ScimResponse:
    """Serve one request; any SCIM error becomes its error response."""
    try:
        with POLICY:
            return ScimHandler(SERVICE, storage).handle(request)
    except SCIMException as exc:
        return SERVICE.error_response(exc)


def serve_service_provider_config(request: ScimRequest) -> ScimResponse:
    """The one endpoint without a token (RFC 7643 §5): it reads no storage."""
    try:
        return SERVICE.service_provider_config(request.url, request.query)
    except SCIMException as exc:
        return SERVICE.error_response(exc)


def error(status: int, detail: str, scim_type: str | None = None) -> ScimResponse:
    exc = SCIMException(detail=detail)
    exc.status = status
    exc.scim_type = scim_type or ""
    return SERVICE.error_response(exc)
