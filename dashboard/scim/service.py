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
  reactivation. A pending invitation is revoked instead. The person is also put in
  ``directory_blocks``: a trigger then refuses every membership insert for them in this org
  (SSO just-in-time joining, an invitation, joining by domain) until the directory
  reactivates or re-creates them.
- Roles: when any group of the org maps to a role, a provisioned member's role is the
  highest role mapped by their groups, else the org's default role (its SSO connection's,
  or member). With no mapping at all SCIM leaves roles alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.members import invitations as invitation_rules
from dashboard.members import roles as role_rules
from dashboard.members import seats
from dashboard.models import Invitation, Membership, ScimGroup, ScimUser, SsoDomain, User
from dashboard.permissions import BUILTIN_ROLES
from dashboard.scim import roles
from dashboard.scim.roles import default_role  # noqa: F401 - the SCIM page shows it

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
    """Invited SCIM users who accepted since: remember the person.

    Two statements, never one joining both tables: SCIM's tables and the invitations may
    live in different databases (README, "Isolation tiers")."""
    pending = session.execute(text(
        "SELECT invitation_id FROM scim_users"
        " WHERE user_id IS NULL AND invitation_id IS NOT NULL"
    )).scalars().all()
    if not pending:
        return
    accepted = session.execute(
        text("SELECT id, accepted_by FROM invitations"
             " WHERE id = ANY(:ids) AND status = 'accepted' AND accepted_by IS NOT NULL"),
        {"ids": list(pending)},
    ).all()
    for invitation_id, person in accepted:
        session.execute(
            text("UPDATE scim_users s SET user_id = :p"
                 " WHERE s.user_id IS NULL AND s.invitation_id = :i"
                 "   AND NOT EXISTS (SELECT 1 FROM scim_users o"
                 "                    WHERE o.org_id = s.org_id AND o.user_id = :p)"),
            {"p": person, "i": invitation_id},
        )


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
        resource=fields.resource, version=1,
    )
    if fields.active:  # decided before the row is written: one INSERT, no UPDATEs after it
        _grant_access(session, caller, row, effects, new=True)
    session.add(row)
    session.flush()
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


def _grant_access(session: Session, caller: Caller, row: ScimUser, effects: Effects, *,
                  new: bool = False) -> None:
    """Make the person a member (or invite them). ``row`` is active; ``new``: not written
    yet (so in no group, and nothing to flush)."""
    if row.user_id is not None and roles.membership(session, row.user_id) is not None:
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
    mapped = None if new else roles.role_for(session, row)
    role = mapped or row.role or roles.default_role(session)
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
    if limit is not None:  # serialised per org only when seats are counted
        invitation_rules._lock_seats(session, caller.org_id)
        if seats.seats_in_use(session, caller.org_id) + 1 > limit:
            raise ScimRuleError(409, f"The organization's plan allows {limit} seats, all taken.")
    if not roles.may_grant(session, caller, role):
        role = roles.default_role(session)
    _lift_block(session, caller.org_id, row.user_id)  # executed now, before the insert below
    session.add(Membership(org_id=caller.org_id, user_id=row.user_id, role=role))
    row.role = role
    record_audit(session, org_id=caller.org_id, actor=caller.actor(), action="member.join",
                 target=f"user:{row.email}", after={"role": role, "via": "scim"})


def _lift_block(session: Session, org_id: uuid.UUID, person: uuid.UUID) -> None:
    """The directory (re)activated this person: memberships may be inserted again."""
    session.execute(text("DELETE FROM directory_blocks WHERE org_id = :o AND user_id = :u"),
                    {"o": org_id, "u": person})


def _link(session: Session, row: ScimUser, person: uuid.UUID) -> None:
    other = session.scalar(
        select(ScimUser.id).where(ScimUser.user_id == person, ScimUser.id != row.id)
    )
    if other is not None:
        raise ScimRuleError(409, "This person is already provisioned as another user.",
                            "uniqueness")
    row.user_id = person


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


def _remove_access(session: Session, caller: Caller, row: ScimUser) -> None:
    """End the person's access to this org now; keep what reactivation restores."""
    membership = roles.membership(session, row.user_id)
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
    if row.user_id is not None:  # no other door back in while the directory says inactive
        session.execute(
            text("INSERT INTO directory_blocks (org_id, user_id) VALUES (:o, :u)"
                 " ON CONFLICT DO NOTHING"), {"o": caller.org_id, "u": row.user_id})
    if row.invitation_id is not None:  # (never the whole row: its token hash is not ours)
        session.execute(
            update(Invitation)
            .where(Invitation.id == row.invitation_id, Invitation.status == "pending")
            .values(status="revoked", revoked_at=func.now())
            .execution_options(synchronize_session=False)
        )
        row.invitation_id = None
    session.flush()
