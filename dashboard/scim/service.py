"""SCIM provisioning rules: users are the org's memberships, groups map to roles. No Flask.

Everything runs in the SCIM token's own RLS context (the gate decides which org), with the
members area's rules (dashboard/members/): a token acts with an admin's rights at most, so it
never makes, changes or demotes an owner and never grants a role above admin; an org always
keeps an owner; seats are counted as for invitations.

- Provisioning a user whose email is at one of the org's verified domains makes the person
  (created through ``app_scim_person`` if new) a member at once; anyone else is invited by
  email and joins when they accept. Someone who is already a member is linked, not re-added.
- ``active: false`` (or DELETE) deletes the membership: the gate, the principal loader and
  access tokens see "not a member" on the next query. The role is kept here and restored on
  reactivation. A pending invitation is revoked instead.
- Roles: when any group of the org maps to a role, a provisioned member's role is the
  highest role mapped by their groups, else the org's default role (its SSO connection's,
  or member). With no mapping at all SCIM leaves roles alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.members import invitations as invitation_rules
from dashboard.members import roles as role_rules
from dashboard.members import seats
from dashboard.models import (
    Invitation,
    Membership,
    ScimGroup,
    ScimGroupMember,
    ScimUser,
    SsoConnection,
    SsoDomain,
    User,
)
from dashboard.permissions import BUILTIN_ROLES

SCIM_PERMISSIONS = frozenset(BUILTIN_ROLES["admin"]["permissions"])
OWNER = role_rules.OWNER


class ScimRuleError(Exception):
    """Refused by a rule; becomes a SCIM error (status, scimType, detail)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


@dataclass(frozen=True)
class Caller:
    """The SCIM token making the request."""

    org_id: uuid.UUID
    credential_id: uuid.UUID
    label: str  # "scim-token:<prefix>"
    created_by: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None

    def actor(self) -> Actor:
        return Actor(label=self.label, ip=self.ip, user_agent=self.user_agent)

    def editor(self) -> role_rules.Editor:
        return role_rules.Editor(self.created_by, "scim", SCIM_PERMISSIONS)


@dataclass
class UserFields:
    user_name: str
    external_id: str | None
    email: str | None
    display_name: str
    active: bool
    resource: dict


@dataclass
class Effects:
    """What a request did that the web layer finishes (invitation mail after commit)."""

    invitations: list = field(default_factory=list)
    ttl_days: int = 7  # INVITATION_TTL_DAYS


# ----------------------------------------------------------------------------- look-ups


def link_accepted_invitations(session: Session) -> None:
    """Invited SCIM users who accepted since: remember the person (one indexed statement)."""
    session.execute(text(
        "UPDATE scim_users s SET user_id = i.accepted_by"
        "  FROM invitations i"
        " WHERE s.user_id IS NULL AND s.invitation_id IS NOT NULL"
        "   AND i.org_id = s.org_id AND i.id = s.invitation_id AND i.status = 'accepted'"
        "   AND NOT EXISTS (SELECT 1 FROM scim_users o"
        "                    WHERE o.org_id = s.org_id AND o.user_id = i.accepted_by)"
    ))


def user_by_id(session: Session, scim_id: str, *, lock: bool = False) -> ScimUser | None:
    ident = _uuid(scim_id)
    if ident is None:
        return None
    query = select(ScimUser).where(ScimUser.id == ident)
    return session.scalar(query.with_for_update() if lock else query)


def group_by_id(session: Session, scim_id: str, *, lock: bool = False) -> ScimGroup | None:
    ident = _uuid(scim_id)
    if ident is None:
        return None
    query = select(ScimGroup).where(ScimGroup.id == ident)
    return session.scalar(query.with_for_update() if lock else query)


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _membership(session: Session, user_id: uuid.UUID | None, *, lock: bool = True):
    if user_id is None:
        return None
    query = select(Membership).where(Membership.user_id == user_id)
    return session.scalar(query.with_for_update() if lock else query)


def default_role(session: Session) -> str:
    return session.scalar(select(SsoConnection.default_role)) or "member"


def _domain_verified(session: Session, email: str) -> bool:
    domain = email.rpartition("@")[2].lower()
    return session.scalar(
        select(func.count()).where(SsoDomain.domain == domain, SsoDomain.verified_at.is_not(None))
    ) > 0


# ----------------------------------------------------------------------------- users


def _check_user_name(session: Session, user_name: str, except_id: uuid.UUID | None) -> None:
    taken = session.scalar(
        select(ScimUser.id).where(func.lower(ScimUser.user_name) == user_name.lower())
    )
    if taken is not None and taken != except_id:
        raise ScimRuleError(409, f"userName {user_name!r} is already provisioned.", "uniqueness")


def _email_of(fields: UserFields) -> str | None:
    """The address access goes to: emails[] (primary, work, first), or an email userName.
    None: the user is stored but gets no access until an email arrives."""
    email = (fields.email or (fields.user_name if "@" in fields.user_name else "")).strip()
    if email.count("@") != 1 or not all(email.split("@")) or len(email) > 254:
        return None
    return email


def create_user(session: Session, caller: Caller, fields: UserFields, effects: Effects) -> ScimUser:
    _check_user_name(session, fields.user_name, None)
    email = _email_of(fields)
    row = ScimUser(
        org_id=caller.org_id, id=uuid.uuid4(), user_name=fields.user_name,
        external_id=fields.external_id, email=email, active=fields.active,
        resource=fields.resource,
    )
    session.add(row)
    session.flush()
    if fields.active:
        _grant_access(session, caller, row, effects)
    record_audit(
        session, org_id=caller.org_id, actor=caller.actor(), action="scim.user.create",
        target=f"user:{email or row.user_name}", after=_audit_view(row),
    )
    return row


def replace_user(
    session: Session, caller: Caller, row: ScimUser, fields: UserFields, effects: Effects
) -> ScimUser:
    if fields.user_name.lower() != row.user_name.lower():
        _check_user_name(session, fields.user_name, row.id)
    email = _email_of(fields)
    before = _audit_view(row)
    gained_email = email is not None and row.email is None
    row.user_name, row.external_id = fields.user_name, fields.external_id
    if row.user_id is None or email is not None:  # a linked person keeps their address here
        row.email = email
    row.resource = fields.resource
    if fields.active and row.active and gained_email:
        _grant_access(session, caller, row, effects)
    elif fields.active != row.active:
        if fields.active:
            row.active = True
            row.deactivated_at = None
            _grant_access(session, caller, row, effects)
        else:
            _remove_access(session, caller, row)
            row.active, row.deactivated_at = False, datetime.now(UTC)
    row.version += 1
    row.updated_at = datetime.now(UTC)
    session.flush()
    after = _audit_view(row)
    if after != before:
        action = "scim.user.update"
        if before["active"] != after["active"]:
            action = "scim.user.reactivate" if row.active else "scim.user.deactivate"
        record_audit(session, org_id=caller.org_id, actor=caller.actor(), action=action,
                     target=f"user:{row.email or row.user_name}", before=before, after=after)
    return row


def delete_user(session: Session, caller: Caller, row: ScimUser) -> None:
    if row.active:
        _remove_access(session, caller, row)
    record_audit(session, org_id=caller.org_id, actor=caller.actor(), action="scim.user.delete",
                 target=f"user:{row.email or row.user_name}", before=_audit_view(row))
    session.delete(row)  # its group memberships go with it (ON DELETE CASCADE)
    session.flush()


def _audit_view(row: ScimUser) -> dict:
    return {"userName": row.user_name, "externalId": row.external_id, "email": row.email,
            "active": row.active}


def _grant_access(session: Session, caller: Caller, row: ScimUser, effects: Effects) -> None:
    """Make the person a member (or invite them). ``row`` is active."""
    if row.user_id is not None and _membership(session, row.user_id) is not None:
        return
    if row.email is None:
        return  # nobody to grant access to until the IdP sends an email
    existing = session.execute(
        select(Membership.user_id, Membership.role)
        .join(User, User.id == Membership.user_id)
        .where(func.lower(User.email) == row.email.lower())
    ).one_or_none()
    if existing is not None:  # already a member (added by hand): link, change nothing
        _link(session, row, existing.user_id)
        row.role = existing.role
        return
    role = _role_for(session, row) or row.role or default_role(session)
    if row.user_id is None and not _domain_verified(session, row.email):
        _invite(session, caller, row, role, effects)
        return
    if row.user_id is None:
        person = session.scalar(
            text("SELECT app_scim_person(:email, :name)"),
            {"email": row.email, "name": (row.resource.get("displayName") or "")[:100]},
        )
        _link(session, row, person)
    limit = seats.seat_limit(session, caller.org_id)
    invitation_rules._lock_seats(session, caller.org_id)
    if limit is not None and seats.seats_in_use(session, caller.org_id) + 1 > limit:
        raise ScimRuleError(409, f"The organization's plan allows {limit} seats, all taken.")
    if not _may_grant(session, caller, role):
        role = default_role(session)
    session.add(Membership(org_id=caller.org_id, user_id=row.user_id, role=role))
    row.role = role
    session.flush()
    record_audit(session, org_id=caller.org_id, actor=caller.actor(), action="member.join",
                 target=f"user:{row.email}", after={"role": role, "via": "scim"})


def _link(session: Session, row: ScimUser, person: uuid.UUID) -> None:
    other = session.scalar(
        select(ScimUser.id).where(ScimUser.user_id == person, ScimUser.id != row.id)
    )
    if other is not None:
        raise ScimRuleError(409, "This person is already provisioned as another user.",
                            "uniqueness")
    row.user_id = person
    session.flush()


def _invite(session: Session, caller: Caller, row: ScimUser, role: str, effects: Effects):
    try:
        result = invitation_rules.invite(
            session, org_id=caller.org_id, editor=caller.editor(),
            roles=role_rules.catalogue(session), emails=row.email, role=role, message=None,
            ttl_days=effects.ttl_days, seat_limit=seats.seat_limit(session, caller.org_id),
            actor=caller.actor(),
        )
    except invitation_rules.InvitationError as exc:
        raise ScimRuleError(exc.status if exc.status != 403 else 400, exc.message) from exc
    if result.issued:
        row.invitation_id = result.issued[0].id
        effects.invitations.extend(result.issued)
        session.flush()


def _remove_access(session: Session, caller: Caller, row: ScimUser) -> None:
    """End the person's access to this org now; keep what reactivation restores."""
    membership = _membership(session, row.user_id)
    if membership is not None:
        if membership.role == OWNER:
            owners = session.scalars(
                select(Membership.user_id).where(Membership.role == OWNER).with_for_update()
            ).all()
            if not [u for u in owners if u != membership.user_id]:
                raise ScimRuleError(
                    409, "This is the organization's last owner: make someone else an owner "
                    "before deactivating them.",
                )
        row.role = membership.role
        record_audit(session, org_id=caller.org_id, actor=caller.actor(),
                     action="member.remove", target=f"user:{row.email}",
                     before={"role": membership.role}, after={"role": None, "via": "scim"})
        session.delete(membership)
    if row.invitation_id is not None:
        pending = session.scalar(
            select(Invitation).where(Invitation.id == row.invitation_id,
                                     Invitation.status == "pending").with_for_update()
        )
        if pending is not None:
            pending.status, pending.revoked_at = "revoked", datetime.now(UTC)
            row.invitation_id = None
    session.flush()


# ----------------------------------------------------------------------------- groups


def check_members(session: Session, members: list[tuple[str, str | None]]) -> dict:
    """The org's SCIM user ids named as members -> the display sent with them; any unknown
    id refuses the whole request."""
    parsed = [(_uuid(value), value, display) for value, display in members]
    wanted = {p for p, _, _ in parsed if p is not None}
    found = set(session.scalars(select(ScimUser.id).where(ScimUser.id.in_(wanted)))) \
        if wanted else set()
    unknown = [value for p, value, _ in parsed if p is None or p not in found]
    if unknown:
        raise ScimRuleError(400, f"Unknown member id(s): {', '.join(unknown[:5])}"
                            + (" …" if len(unknown) > 5 else ""), "invalidValue")
    return {p: (display or None) and display[:256] for p, _, display in parsed}


def create_group(session: Session, caller: Caller, display_name: str, external_id: str | None,
                 member_ids: list[tuple[str, str | None]]) -> ScimGroup:
    members = check_members(session, member_ids)
    group = ScimGroup(org_id=caller.org_id, id=uuid.uuid4(), display_name=display_name,
                      external_id=external_id)
    session.add(group)
    session.flush()
    _add_members(session, caller, group, members)
    record_audit(session, org_id=caller.org_id, actor=caller.actor(), action="scim.group.create",
                 target=f"group:{display_name}", after={"members": len(members)})
    return group


def replace_group(session: Session, caller: Caller, group: ScimGroup, display_name: str,
                  external_id: str | None,
                  member_ids: list[tuple[str, str | None]]) -> ScimGroup:
    wanted = check_members(session, member_ids)
    current = dict(session.execute(
        select(ScimGroupMember.scim_user_id, ScimGroupMember.display)
        .where(ScimGroupMember.group_id == group.id)).all())
    added = {m: d for m, d in wanted.items() if m not in current}
    removed = [m for m in current if m not in wanted]
    if removed:
        session.execute(delete(ScimGroupMember).where(
            ScimGroupMember.group_id == group.id, ScimGroupMember.scim_user_id.in_(removed)))
    for member, display in wanted.items():
        if member in current and current[member] != display:
            session.execute(update(ScimGroupMember).where(
                ScimGroupMember.group_id == group.id, ScimGroupMember.scim_user_id == member,
            ).values(display=display))
    _add_members(session, caller, group, added, recompute=False)
    added = list(added)
    changed = display_name != group.display_name or external_id != group.external_id
    group.display_name, group.external_id = display_name, external_id
    if added or removed or changed:
        group.version += 1
        group.updated_at = datetime.now(UTC)
        record_audit(session, org_id=caller.org_id, actor=caller.actor(),
                     action="scim.group.update", target=f"group:{display_name}",
                     details={"added": len(added), "removed": len(removed)})
    session.flush()
    if group.role is not None:
        recompute_roles(session, caller, added + removed)
    return group


def delete_group(session: Session, caller: Caller, group: ScimGroup) -> None:
    members = member_ids_of(session, group.id)
    record_audit(session, org_id=caller.org_id, actor=caller.actor(), action="scim.group.delete",
                 target=f"group:{group.display_name}", before={"members": len(members)})
    mapped = group.role is not None
    session.execute(delete(ScimGroupMember).where(ScimGroupMember.group_id == group.id))
    session.delete(group)
    session.flush()
    if mapped:
        recompute_roles(session, caller, members)


def _add_members(session: Session, caller: Caller, group: ScimGroup, members, *,
                 recompute: bool = True) -> None:
    if not members:
        return
    session.execute(
        ScimGroupMember.__table__.insert(),
        [{"org_id": caller.org_id, "group_id": group.id, "scim_user_id": m, "display": d}
         for m, d in members.items()],
    )
    if recompute and group.role is not None:
        recompute_roles(session, caller, list(members))


def member_ids_of(session: Session, group_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(
        select(ScimGroupMember.scim_user_id).where(ScimGroupMember.group_id == group_id)
    ))


# ----------------------------------------------------------------------------- roles


def _may_grant(session: Session, caller: Caller, key: str) -> bool:
    if key == OWNER:
        return False
    if key in BUILTIN_ROLES:  # no query: the built-in roles below owner are within admin's
        return True
    return role_rules.may_grant(caller.editor(),
                                role_rules.role_of(role_rules.catalogue(session), key))


def _rank(info: role_rules.RoleInfo) -> tuple[int, int]:
    """Higher wins: more permissions first, then the built-in rank."""
    return len(info.permissions), BUILTIN_ROLES.get(info.key, {}).get("rank", 0)


def _role_for(session: Session, row: ScimUser) -> str | None:
    """The role the user's groups map to (the highest), or None when no group maps one."""
    mapped = session.scalars(
        select(ScimGroup.role).join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
        .where(ScimGroupMember.scim_user_id == row.id, ScimGroup.role.is_not(None))
    ).all()
    if not mapped:
        return None
    catalogue = role_rules.catalogue(session)
    return max((role_rules.role_of(catalogue, r) for r in set(mapped)), key=_rank).key


def mappings_exist(session: Session) -> bool:
    return session.scalar(select(func.count()).where(ScimGroup.role.is_not(None))) > 0


def recompute_roles(session: Session, caller: Caller, scim_user_ids) -> int:
    """Apply the group mapping to these users' memberships; returns how many changed."""
    ids = list(dict.fromkeys(scim_user_ids))
    if not ids or not mappings_exist(session):
        return 0
    catalogue = role_rules.catalogue(session)
    editor = caller.editor()
    fallback = default_role(session)
    changed = 0
    for row in session.scalars(select(ScimUser).where(ScimUser.id.in_(ids),
                                                      ScimUser.active.is_(True))):
        membership = _membership(session, row.user_id)
        if membership is None or membership.role == OWNER:
            continue  # not (yet) a member, or an owner: owners are managed by hand
        target = _role_for(session, row) or fallback
        if target == membership.role:
            continue
        current = role_rules.role_of(catalogue, membership.role)
        wanted = role_rules.role_of(catalogue, target)
        if not (role_rules.may_manage(editor, current) and role_rules.may_grant(editor, wanted)):
            continue  # above what SCIM may grant: left as it is
        record_audit(session, org_id=caller.org_id, actor=caller.actor(),
                     action="member.role_change", target=f"user:{row.email}",
                     before={"role": membership.role}, after={"role": target, "via": "scim"})
        membership.role = target
        row.role = target
        changed += 1
    session.flush()
    return changed
