"""SCIM groups: members are the org's SCIM users; a mapped group's changes re-apply roles.
No Flask.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from dashboard.audit.service import record_audit
from dashboard.models import ScimGroup, ScimGroupMember, ScimUser
from dashboard.scim import roles
from dashboard.scim.service import Caller, ScimRuleError, _uuid


def check_members(session: Session, members: list[tuple[str, str | None]]) -> dict:
    """The org's SCIM user ids named as members -> the display sent with them; any unknown
    id refuses the whole request."""
    parsed = [(_uuid(value), value, display) for value, display in members]
    wanted = {p for p, _, _ in parsed if p is not None}
    found = dict(session.execute(
        select(ScimUser.id, ScimUser.user_name).where(ScimUser.id.in_(wanted))
    ).all()) if wanted else {}
    unknown = [value for p, value, _ in parsed if p is None or p not in found]
    if unknown:
        raise ScimRuleError(400, f"Unknown member id(s): {', '.join(unknown[:5])}"
                            + (" …" if len(unknown) > 5 else ""), "invalidValue")
    # A display equal to the user's userName is what we show anyway: not stored.
    return {p: display[:256] if display and display != found[p] else None
            for p, _, display in parsed}


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
        roles.recompute_roles(session, caller, added + removed)
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
        roles.recompute_roles(session, caller, members)


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
        roles.recompute_roles(session, caller, list(members))


def member_ids_of(session: Session, group_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(
        select(ScimGroupMember.scim_user_id).where(ScimGroupMember.group_id == group_id)
    ))


