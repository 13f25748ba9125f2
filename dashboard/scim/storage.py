"""The scim2-server storage of an org: SCIM resources <-> rows, rules in service.py. No Flask.

scim2-server parses and validates requests, applies PATCH operations and renders responses
and errors; this class is where it reads and writes, always in the token's RLS-scoped session.
A resource that is not the org's (another org's id, or not a UUID) is simply not found.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    EnterpriseUser,
    Group,
    NotFoundException,
    NotImplementedException,
    Resource,
    ResourceType,
    SCIMException,
    ScimFilter,
    User,
)
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.models import ScimGroup, ScimGroupMember, ScimUser
from dashboard.scim import groups, service
from dashboard.scim.filters import narrow

UserModel = User[EnterpriseUser]
# Never stored: the password (SCIM never sets one), server-owned and read-only attributes.
_NOT_STORED = {"id", "meta", "password", "groups", "externalId", "userName", "active"}
# In ``scim_users.resource``: the IdP removed ``active``. Access stays as it was (only an
# explicit false ends it); the attribute is shown as absent, as the IdP left it.
_ACTIVE_UNSET = "__activeUnset"


def scim_error(exc: service.ScimRuleError) -> SCIMException:
    error = SCIMException(detail=exc.detail)
    error.status = exc.status
    error.scim_type = exc.scim_type or ""
    return error


def _meta(resource_type: str, row) -> dict:
    return {"resourceType": resource_type, "created": row.created_at,
            "lastModified": row.updated_at, "version": f'W/"{row.version}"'}


def user_resource(row: ScimUser) -> Resource:
    data = dict(row.resource)
    unset = data.pop(_ACTIVE_UNSET, False)
    data.update({"id": str(row.id), "userName": row.user_name, "meta": _meta("User", row)})
    if not unset:
        data["active"] = row.active
    if row.external_id is not None:
        data["externalId"] = row.external_id
    return UserModel.model_validate(data)


def user_fields(resource: Any, current: ScimUser | None = None) -> service.UserFields:
    dumped = resource.model_dump()
    stored = {k: v for k, v in dumped.items() if k not in _NOT_STORED}
    emails = resource.emails or []
    chosen = next((e for e in emails if e.primary), None) or next(
        (e for e in emails if str(e.type or "").lower() == "work"), None
    ) or (emails[0] if emails else None)
    name = resource.name
    display = resource.display_name or (name.formatted if name else None) or " ".join(
        p for p in ((name.given_name, name.family_name) if name else ()) if p
    )
    if display:
        stored.setdefault("displayName", display)
    active = resource.active
    if active is None:
        active = current.active if current is not None else True
        if current is not None:
            stored[_ACTIVE_UNSET] = True
    return service.UserFields(
        user_name=resource.user_name, external_id=resource.external_id,
        email=str(chosen.value) if chosen and chosen.value else None,
        display_name=display or resource.user_name, active=bool(active), resource=stored,
    )


def group_resource(row: ScimGroup, members: list[tuple]) -> Resource:
    data: dict = {"id": str(row.id), "displayName": row.display_name, "meta": _meta("Group", row)}
    if row.external_id is not None:
        data["externalId"] = row.external_id
    if members:
        data["members"] = [
            {"value": str(ident), "display": name, "$ref": f"Users/{ident}", "type": "User"}
            for ident, name in members
        ]
    return Group.model_validate(data)


def member_values(resource: Any) -> list[tuple[str, str | None]]:
    """(id, display) of each member; nested groups are refused."""
    values = []
    for member in resource.members or []:
        if member.type is not None and str(member.type).lower() == "group":
            raise scim_error(service.ScimRuleError(
                400, "Nested groups are not supported: members must be users.", "invalidValue"))
        values.append((str(member.value), member.display))
    return values


class OrgStorage(ScimStorage):
    """One request's view of the caller's org. ``lock``: rows read are locked (writes)."""

    def __init__(self, session: Session, caller: service.Caller, effects: service.Effects,
                 *, lock: bool = False) -> None:
        self.session = session
        self.caller = caller
        self.effects = effects
        self.lock = lock

    # -- reading -------------------------------------------------------------------------

    def _user(self, resource_id: str) -> ScimUser:
        row = service.user_by_id(self.session, resource_id, lock=self.lock)
        if row is None:
            raise NotFoundException(detail=f"User {resource_id!r} not found")
        return row

    def _group(self, resource_id: str) -> ScimGroup:
        row = service.group_by_id(self.session, resource_id, lock=self.lock)
        if row is None:
            raise NotFoundException(detail=f"Group {resource_id!r} not found")
        return row

    def _members(self, group_ids) -> dict:
        found: dict = {g: [] for g in group_ids}
        if not group_ids:
            return found
        rows = self.session.execute(
            select(ScimGroupMember.group_id, ScimUser.id,
                   func.coalesce(ScimGroupMember.display, ScimUser.user_name))
            .join(ScimUser, ScimUser.id == ScimGroupMember.scim_user_id)
            .where(ScimGroupMember.group_id.in_(list(group_ids)))
            .order_by(ScimUser.user_name)
        )
        for group_id, ident, name in rows:
            found[group_id].append((ident, name))
        return found

    def _groups(self, rows: list[ScimGroup]) -> list[Resource]:
        members = self._members([r.id for r in rows])
        return [group_resource(r, members[r.id]) for r in rows]

    def get(self, resource_type: ResourceType, resource_id: str, *,
            response_parameters=None) -> Resource:
        if resource_type.name == "User":
            return user_resource(self._user(resource_id))
        return self._groups([self._group(resource_id)])[0]

    def search(self, resource_types: list[ResourceType], search_request, *,
               position=None) -> SearchPage:
        if len(resource_types) != 1:
            raise NotImplementedException(detail="Search one resource type at a time.")
        is_user = resource_types[0].name == "User"
        model = ScimUser if is_user else ScimGroup
        query = select(model)
        scim_filter = search_request.filter
        condition = narrow(scim_filter.ast, model) if scim_filter is not None else None
        if condition is not None:
            query = query.where(condition)
        query = query.order_by(model.created_at, model.id)
        start = search_request.start_index_0 or 0
        count = search_request.count
        if scim_filter is None:
            total = self.session.scalar(select(func.count()).select_from(model))
            if count == 0:
                return SearchPage(total, [])
            rows = list(self.session.scalars(query.offset(start).limit(count)))
            resources = [user_resource(r) for r in rows] if is_user else self._groups(rows)
            return SearchPage(total, resources)
        rows = list(self.session.scalars(query))
        resources = [user_resource(r) for r in rows] if is_user else self._groups(rows)
        if not scim_filter.models:
            scim_filter = ScimFilter[UserModel if is_user else Group](str(scim_filter))
        matched = [r for r in resources if scim_filter.match(r)]
        stop = None if count is None else start + count
        return SearchPage(len(matched), matched[start:stop])

    # -- writing -------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource) -> Resource:
        try:
            if resource_type.name == "User":
                row = service.create_user(self.session, self.caller, user_fields(resource),
                                          self.effects)
                return user_resource(row)
            group = groups.create_group(self.session, self.caller, resource.display_name,
                                         resource.external_id, member_values(resource))
            return self._groups([group])[0]
        except service.ScimRuleError as exc:
            raise scim_error(exc) from None

    def update(self, resource_type: ResourceType, resource: Resource, *,
               expected_version: str | None = None) -> Resource:
        try:
            if resource_type.name == "User":
                row = self._user(str(resource.id))
                row = service.replace_user(self.session, self.caller, row,
                                           user_fields(resource, row), self.effects)
                return user_resource(row)
            group = self._group(str(resource.id))
            group = groups.replace_group(self.session, self.caller, group,
                                          resource.display_name, resource.external_id,
                                          member_values(resource))
            return self._groups([group])[0]
        except service.ScimRuleError as exc:
            raise scim_error(exc) from None

    def delete(self, resource_type: ResourceType, resource_id: str, *,
               expected_version: str | None = None) -> None:
        try:
            if resource_type.name == "User":
                service.delete_user(self.session, self.caller, self._user(resource_id))
            else:
                groups.delete_group(self.session, self.caller, self._group(resource_id))
        except service.ScimRuleError as exc:
            raise scim_error(exc) from None
