"""Members and invitations through the API, applying the members area's own rules
(dashboard/members/: who may change, remove or invite whom; the last owner; seats).

An API key acts with an admin's rights at most: it never grants, changes or removes an owner.
It acts on behalf of the person who created it (invitations name them as the inviter).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from pydantic import ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from dashboard import tenancy
from dashboard.api import pagination
from dashboard.api.auth import ApiPrincipal, current_principal
from dashboard.api.errors import ApiError
from dashboard.api.registry import operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Body, Output, PageQuery
from dashboard.members import invitations as invitation_rules
from dashboard.members import roles as role_rules
from dashboard.members import service as member_rules
from dashboard.members.seats import seat_limit
from dashboard.members.web import queue_invitation_mail
from dashboard.metadata import service as metadata
from dashboard.metadata.rules import Metadata, MetadataFilter
from dashboard.models import OrgCredential, User
from dashboard.permissions import BUILTIN_ROLES, ApiScope, Permission

KEY_PERMISSIONS = frozenset(BUILTIN_ROLES["admin"]["permissions"])
STATUS_CODES = {400: "invalid_request", 403: "forbidden", 404: "not_found", 409: "conflict"}


def _editor(session, principal: ApiPrincipal) -> tuple[role_rules.Editor, str]:
    """The members rules' "who is acting", and a name for invitation mail."""
    if principal.kind == "user":
        return (
            role_rules.Editor(principal.user_id, principal.role, principal.permissions),
            principal.label,
        )
    creator = session.execute(
        select(User.id, User.name)
        .join(OrgCredential, OrgCredential.created_by == User.id)
        .where(OrgCredential.id == principal.credential_id)
    ).one_or_none()
    editor = role_rules.Editor(creator.id if creator else None, "api-key", KEY_PERMISSIONS)
    return editor, creator.name if creator else principal.org.name


def _refused(exc) -> ApiError:
    return ApiError(exc.status, STATUS_CODES.get(exc.status, "refused"), exc.message)


def _fingerprint(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------ members


class RoleOut(Output):
    key: str
    name: str


class MemberOut(Output):
    user_id: uuid.UUID
    name: str
    email: str
    role: RoleOut
    joined_at: datetime
    last_active_at: datetime | None
    metadata: dict[str, str] = Field(description="The member's metadata in this org.")


class MemberPage(Output):
    items: list[MemberOut]
    next_cursor: str | None


class MemberQuery(PageQuery):
    limit: int = Field(50, ge=1, le=member_rules.PER_PAGE_MAX,
                       description=f"Items per page (1–{member_rules.PER_PAGE_MAX}).")
    q: str | None = Field(None, max_length=member_rules.SEARCH_MAX,
                          description="Part of a name or email.")
    role: str | None = Field(None, max_length=40, description="Only members with this role.")
    metadata: MetadataFilter | None = None


def _at_least_one(schema: dict) -> None:
    schema["minProperties"] = 1
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)  # absent = unchanged; null is not a value here


class MemberChange(Body):
    """At least one of `role` and `metadata`."""

    model_config = ConfigDict(json_schema_extra=_at_least_one)

    # Absent means "unchanged"; null is refused (the schema says so: no null in the types).
    role: str = Field(None, min_length=1, max_length=40,  # type: ignore[assignment]
                      description="A role key of the org.")
    metadata: Metadata = Field(None,  # type: ignore[assignment]
                               description="Replaces the member's whole metadata map.")

    @model_validator(mode="after")
    def _something(self):
        if not self.model_fields_set:
            raise ValueError("give role, metadata or both")
        return self


def _member(row, metadata: dict[str, str]) -> MemberOut:
    return MemberOut(user_id=row.user_id, name=row.name, email=row.email,
                     role=RoleOut(key=row.role.key, name=row.role.name),
                     joined_at=row.joined_at, last_active_at=row.last_active_at,
                     metadata=metadata)


def _with_metadata(session, org_id, rows) -> list[MemberOut]:
    found = metadata.read(session, metadata.MEMBER, org_id, [r.user_id for r in rows])
    return [_member(r, found.get(r.user_id, {})) for r in rows]


@operation(bp, "GET", "/members", summary="List members", tag="Members",
           scope=ApiScope.MEMBERS_READ, query=MemberQuery, response=MemberPage)
def list_members(query: MemberQuery):
    """Ordered by name; `q` searches names and emails; `metadata[key]=value` keeps members
    whose metadata has exactly that value."""
    principal = current_principal()
    session = tenancy.request_session()
    metadata_filter = next(iter(query.metadata.items())) if query.metadata else None
    fingerprint = _fingerprint(query.q, query.role, query.limit, metadata_filter)
    position = pagination.query_position(query.cursor, "members", principal.org_id, fingerprint)
    page_number = int(position.get("p", 1)) if position is not None else 1
    editor, _ = _editor(session, principal)
    page = member_rules.list_members(
        session, editor=editor, roles=role_rules.catalogue(session),
        wanted=member_rules.PageWanted(query=query.q or "", role=query.role or "",
                                       page=page_number, per_page=query.limit,
                                       metadata=metadata_filter),
    )
    next_cursor = None
    if page.has_next:
        next_cursor = pagination.encode(
            "members", principal.org_id, {"p": page_number + 1, "f": fingerprint}
        )
    return MemberPage(items=_with_metadata(session, principal.org_id, page.rows),
                      next_cursor=next_cursor)


@operation(bp, "GET", "/members/<uuid:user_id>", summary="Read a member", tag="Members",
           scope=ApiScope.MEMBERS_READ, response=MemberOut)
def get_member(user_id: uuid.UUID):
    principal = current_principal()
    session = tenancy.request_session()
    editor, _ = _editor(session, principal)
    row = member_rules.get_member(session, org_id=principal.org_id, editor=editor,
                                  roles=role_rules.catalogue(session), user_id=user_id)
    if row is None:
        raise ApiError(404, "not_found", "Not found.")
    return _with_metadata(session, principal.org_id, [row])[0]


@operation(bp, "PATCH", "/members/<uuid:user_id>",
           summary="Change a member's role or metadata", tag="Members",
           scope=ApiScope.MEMBERS_WRITE, permission=Permission.ROLES_EDIT,
           body=MemberChange, response=MemberOut, errors=(409,))
def change_member_role(user_id: uuid.UUID, body: MemberChange):
    """Nobody grants a role above their own (a key: above admin); the org keeps an owner.
    `metadata` replaces the member's whole map (`{}` clears it); a change is audited as
    `member.update` and sent as the `membership.updated` event."""
    principal = current_principal()
    session = tenancy.request_session()
    editor, _ = _editor(session, principal)
    roles = role_rules.catalogue(session)
    row = member_rules.get_member(session, org_id=principal.org_id, editor=editor,
                                  roles=roles, user_id=user_id)
    if row is None:
        raise ApiError(404, "not_found", "Not found.")
    try:
        if body.role is not None:
            member_rules.change_role(session, org_id=principal.org_id, editor=editor,
                                     roles=roles, user_id=user_id, new_role=body.role,
                                     actor=principal.actor())
    except member_rules.MemberError as exc:
        raise _refused(exc) from None
    if body.metadata is not None:
        metadata.replace_member_metadata(session, principal.org_id, user_id, body.metadata,
                                         actor=principal.actor(), target=f"user:{row.email}")
    row = member_rules.get_member(session, org_id=principal.org_id, editor=editor,
                                  roles=roles, user_id=user_id)
    return _with_metadata(session, principal.org_id, [row])[0]


@operation(bp, "DELETE", "/members/<uuid:user_id>", summary="Remove a member", tag="Members",
           scope=ApiScope.MEMBERS_WRITE, permission=Permission.MEMBERS_REMOVE, status=204,
           errors=(409,))
def remove_member(user_id: uuid.UUID):
    """The org's last owner cannot be removed; access ends on the member's next request."""
    principal = current_principal()
    session = tenancy.request_session()
    editor, _ = _editor(session, principal)
    try:
        member_rules.remove_member(session, org_id=principal.org_id, editor=editor,
                                   roles=role_rules.catalogue(session), user_id=user_id,
                                   actor=principal.actor())
    except member_rules.MemberError as exc:
        raise _refused(exc) from None


# ------------------------------------------------------------------------------ invitations


class InvitationOut(Output):
    id: uuid.UUID
    email: str
    role: RoleOut
    invited_by: str | None
    sent_at: datetime
    expires_at: datetime
    expired: bool


class InvitationPage(Output):
    items: list[InvitationOut]
    next_cursor: str | None


class NewInvitations(Body):
    emails: list[str] = Field(min_length=1, max_length=invitation_rules.MAX_PER_SUBMISSION)
    role: str = Field("member", min_length=1, max_length=40)
    message: str | None = Field(None, max_length=invitation_rules.MESSAGE_MAX)

    @field_validator("emails")
    @classmethod
    def _addresses(cls, emails: list[str]) -> list[str]:
        for email in emails:
            try:
                validate_email(email, check_deliverability=False)
            except EmailNotValidError as exc:
                raise ValueError(f"not a valid email address: {email[:80]}") from exc
        return emails


class IssuedOut(Output):
    id: uuid.UUID
    email: str
    role: RoleOut
    expires_at: datetime
    refreshed: bool = Field(description="An existing pending invitation was sent again.")


class InviteResultOut(Output):
    invited: list[IssuedOut]
    already_members: list[str]


@operation(bp, "GET", "/invitations", summary="List pending invitations", tag="Invitations",
           scope=ApiScope.INVITATIONS_READ, query=PageQuery, response=InvitationPage)
def list_invitations(query: PageQuery):
    principal = current_principal()
    session = tenancy.request_session()
    editor, _ = _editor(session, principal)
    pending = invitation_rules.pending_invitations(
        session, editor=editor, roles=role_rules.catalogue(session)
    )
    start = pagination.decode(query.cursor, "invitations", principal.org_id) or 0
    if not isinstance(start, int) or start < 0:
        raise ApiError(400, "invalid_cursor", "The cursor is not valid for this list.")
    chunk = pending[start:start + query.limit]
    more = start + query.limit < len(pending)
    return InvitationPage(
        items=[
            InvitationOut(id=i.id, email=i.email, role=RoleOut(key=i.role.key, name=i.role.name),
                          invited_by=i.invited_by, sent_at=i.sent_at, expires_at=i.expires_at,
                          expired=i.expired)
            for i in chunk
        ],
        next_cursor=pagination.encode("invitations", principal.org_id, start + query.limit)
        if more else None,
    )


@operation(bp, "POST", "/invitations", summary="Invite people", tag="Invitations",
           scope=ApiScope.INVITATIONS_WRITE, permission=Permission.MEMBERS_INVITE,
           body=NewInvitations, response=InviteResultOut, status=201, errors=(409,))
def create_invitations(body: NewInvitations):
    """Sends each address an invitation email. A pending invitation to the same address is
    refreshed; existing members are listed, not invited. Seats are checked."""
    principal = current_principal()
    session = tenancy.request_session()
    editor, inviter_name = _editor(session, principal)
    try:
        result = invitation_rules.invite(
            session, org_id=principal.org_id, editor=editor,
            roles=role_rules.catalogue(session), emails="\n".join(body.emails), role=body.role,
            message=body.message, ttl_days=current_app.config["INVITATION_TTL_DAYS"],
            seat_limit=seat_limit(session, principal.org_id), actor=principal.actor(),
        )
    except invitation_rules.InvitationError as exc:
        raise _refused(exc) from None
    queue_invitation_mail(session, result.issued, principal.org.name, inviter_name)
    return InviteResultOut(
        invited=[IssuedOut(id=i.id, email=i.email, role=RoleOut(key=i.role.key, name=i.role.name),
                           expires_at=i.expires_at, refreshed=i.refreshed)
                 for i in result.issued],
        already_members=result.already_members,
    )


@operation(bp, "DELETE", "/invitations/<uuid:invitation_id>", summary="Revoke an invitation",
           tag="Invitations", scope=ApiScope.INVITATIONS_WRITE,
           permission=Permission.MEMBERS_INVITE, status=204, errors=(409,))
def revoke_invitation(invitation_id: uuid.UUID):
    principal = current_principal()
    session = tenancy.request_session()
    editor, _ = _editor(session, principal)
    try:
        invitation_rules.revoke(session, org_id=principal.org_id, editor=editor,
                                roles=role_rules.catalogue(session),
                                invitation_id=invitation_id, actor=principal.actor())
    except invitation_rules.InvitationError as exc:
        raise _refused(exc) from None
