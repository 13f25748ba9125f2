"""SCIM group -> role mapping: which role a provisioned member holds. No Flask.

When any group of the org maps to a role, a provisioned member's role is the highest role
their groups map to (most permissions, then the built-in rank), else the org's default role
(its SSO connection's, or member). With no mapping at all SCIM leaves roles alone. SCIM acts
with an admin's rights at most: it never grants owner, never touches an owner, and never
grants or takes away a role above admin.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.audit.service import record_audit
from dashboard.members import roles as role_rules
from dashboard.models import Membership, ScimGroup, ScimGroupMember, ScimUser, SsoConnection
from dashboard.permissions import BUILTIN_ROLES

if TYPE_CHECKING:
    from dashboard.scim.service import Caller

OWNER = role_rules.OWNER


def membership(session: Session, user_id: uuid.UUID | None, *, lock: bool = True):
    if user_id is None:
        return None
    query = select(Membership).where(Membership.user_id == user_id)
    return session.scalar(query.with_for_update() if lock else query)


def default_role(session: Session) -> str:
    return session.scalar(select(SsoConnection.default_role)) or "member"


def may_grant(session: Session, caller: Caller, key: str) -> bool:
    if key == OWNER:
        return False
    if key in BUILTIN_ROLES:  # no query: the built-in roles below owner are within admin's
        return True
    return role_rules.may_grant(caller.editor(),
                                role_rules.role_of(role_rules.catalogue(session), key))


def rank(info: role_rules.RoleInfo) -> tuple[int, int]:
    """Higher wins: more permissions first, then the built-in rank."""
    return len(info.permissions), BUILTIN_ROLES.get(info.key, {}).get("rank", 0)


def role_for(session: Session, row: ScimUser) -> str | None:
    """The role the user's groups map to (the highest), or None when no group maps one."""
    mapped = session.scalars(
        select(ScimGroup.role).join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
        .where(ScimGroupMember.scim_user_id == row.id, ScimGroup.role.is_not(None))
    ).all()
    if not mapped:
        return None
    catalogue = role_rules.catalogue(session)
    return max((role_rules.role_of(catalogue, r) for r in set(mapped)), key=rank).key


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
        held = membership(session, row.user_id)
        if held is None or held.role == OWNER:
            continue  # not (yet) a member, or an owner: owners are managed by hand
        target = role_for(session, row) or fallback
        if target == held.role:
            continue
        current = role_rules.role_of(catalogue, held.role)
        wanted = role_rules.role_of(catalogue, target)
        if not (role_rules.may_manage(editor, current) and role_rules.may_grant(editor, wanted)):
            continue  # above what SCIM may grant: left as it is
        record_audit(session, org_id=caller.org_id, actor=caller.actor(),
                     action="member.role_change", target=f"user:{row.email}",
                     before={"role": held.role}, after={"role": target, "via": "scim"})
        held.role = target
        row.role = target
        changed += 1
    session.flush()
    return changed
