"""The org's API keys through the API: list and read them (never a secret), and replace a
key's metadata, with the same shape and rules as members' metadata (dashboard/metadata/).

Creating and revoking keys stay on the API keys page (step-up, the secret shown once).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from dashboard import tenancy
from dashboard.api import pagination
from dashboard.api.auth import current_principal
from dashboard.api.errors import ApiError
from dashboard.api.registry import operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Body, Output, PageQuery
from dashboard.apikeys import service as keys
from dashboard.metadata.rules import Metadata, MetadataFilter
from dashboard.permissions import ApiScope, Permission


class ApiKeyOut(Output):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="How the key is shown (its public prefix); never a secret.")
    scopes: list[str]
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    created_by: str | None = Field(description="Email of the person who made it, if any.")
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    metadata: dict[str, str] = Field(description="The key's metadata.")


class ApiKeyPage(Output):
    items: list[ApiKeyOut]
    next_cursor: str | None


class ApiKeyQuery(PageQuery):
    metadata: MetadataFilter | None = None


class ApiKeyChange(Body):
    metadata: Metadata = Field(description="Replaces the key's whole metadata map.")


def _out(key: keys.KeyRow) -> ApiKeyOut:
    return ApiKeyOut(id=key.id, name=key.name, prefix=key.display, scopes=list(key.scopes),
                     status=key.status(), created_at=key.created_at, created_by=key.created_by,
                     expires_at=key.expires_at, revoked_at=key.revoked_at,
                     last_used_at=key.last_used_at, metadata=key.metadata)


@operation(bp, "GET", "/api-keys", summary="List API keys", tag="API keys",
           scope=ApiScope.API_KEYS_READ, permission=Permission.APIKEYS_MANAGE,
           query=ApiKeyQuery, response=ApiKeyPage)
def list_api_keys(query: ApiKeyQuery):
    """Newest first, revoked and expired keys included; `metadata[key]=value` keeps keys
    whose metadata has exactly that value."""
    principal = current_principal()
    wanted = next(iter(query.metadata.items())) if query.metadata else None
    fingerprint = hashlib.sha256(repr((query.limit, wanted)).encode()).hexdigest()[:16]
    position = pagination.query_position(query.cursor, "api_keys", principal.org_id,
                                         fingerprint)
    offset = int(position.get("o", 0)) if position else 0
    found, more = keys.key_page(tenancy.request_session(), offset=offset, limit=query.limit,
                                metadata=wanted)
    next_cursor = None
    if more:
        next_cursor = pagination.encode("api_keys", principal.org_id,
                                        {"o": offset + query.limit, "f": fingerprint})
    return ApiKeyPage(items=[_out(k) for k in found], next_cursor=next_cursor)


@operation(bp, "GET", "/api-keys/<uuid:key_id>", summary="Read an API key", tag="API keys",
           scope=ApiScope.API_KEYS_READ, permission=Permission.APIKEYS_MANAGE,
           response=ApiKeyOut)
def get_api_key(key_id: uuid.UUID):
    key = keys.get_key(tenancy.request_session(), key_id)
    if key is None:
        raise ApiError(404, "not_found", "Not found.")
    return _out(key)


@operation(bp, "PATCH", "/api-keys/<uuid:key_id>", summary="Replace an API key's metadata",
           tag="API keys", scope=ApiScope.API_KEYS_WRITE, permission=Permission.APIKEYS_MANAGE,
           body=ApiKeyChange, response=ApiKeyOut)
def update_api_key(key_id: uuid.UUID, body: ApiKeyChange):
    """`metadata` replaces the key's whole map (`{}` clears it); revoked and expired keys
    too. A change is audited as `apikey.update` and sent as the `api_key.updated` event with
    the map before and after; its name, scopes and expiry never change."""
    key = keys.replace_key_metadata(tenancy.request_session(), key_id, body.metadata,
                                    actor=current_principal().actor())
    if key is None:
        raise ApiError(404, "not_found", "Not found.")
    return _out(key)
