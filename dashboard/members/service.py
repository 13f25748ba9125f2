"""Member list, role changes, removal and leaving. No Flask; the caller passes its session.

Every rule about *who* may do what to *whom* lives in ``roles.py``; this module applies it and
keeps the org's last owner. Owner rows are locked (``FOR UPDATE``) before the count, so two
owners demoting each other at the same moment cannot both succeed.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.members.roles import OWNER, Editor, RoleInfo, may_grant, may_manage, role_of
from dashboard.models import Membership, User

PER_PAGE_DEFAULT = 50
PER_PAGE_MAX = 100
SEARCH_MAX = 100


class MemberError(Exception):
    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class MemberRow:
    user_id: uuid.UUID
    name: str
    email: str
    role: RoleInfo
    joined_at: datetime
    last_active_at: datetime | None
    is_self: bool
    can_change_role: bool
    can_remove: bool


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberRow]
    total: int
    page: int
    per_page: int
    query: str
    role: str

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _row(editor: Editor, roles: dict[str, RoleInfo], record, *, can_edit: bool,
         can_remove: bool) -> MemberRow:
    role = role_of(roles, record.role)
    manageable = may_manage(editor, role)
    is_self = record.user_id == editor.user_id
    return MemberRow(
        user_id=record.user_id,
        name=record.name,
        email=record.email,
        role=role,
        joined_at=record.created_at,
        last_active_at=record.last_active_at,
        is_self=is_self,
        can_change_role=can_edit and manageable,
        can_remove=can_remove and manageable and not is_self,
    )


def _member_columns():
    return select(
        Membership.user_id, User.name, User.email, Membership.role, Membership.created_at,
        Membership.last_active_at,
    ).join(User, User.id == Membership.user_id)


def list_members(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    query: str = "",
    role: str = "",
    page: int = 1,
    per_page: int = PER_PAGE_DEFAULT,
) -> MemberPage:
    """One page of members in one query (the total rides along as a window count)."""
    query = (query or "").strip()[:SEARCH_MAX]
    role = role if role in roles else ""
    page = max(1, page)
    per_page = min(max(1, per_page), PER_PAGE_MAX)
    # ``users`` spans the whole installation. The OFFSET 0 fence keeps the person look-up a
    # per-member index probe, so the cost follows the org's size: without it the planner
    # filters every user's name and email first (a search grew 10x at 200,000 users).
    person = (
        select(User.name, User.email)
        .where(User.id == Membership.user_id)
        .offset(0)
        .lateral("person")
    )
    stmt = (
        select(
            Membership.user_id, person.c.name, person.c.email, Membership.role,
            Membership.created_at, Membership.last_active_at,
            func.count().over().label("total"),
        )
        .select_from(Membership)
        .join(person, true())
        .where(Membership.org_id == org_id)  # RLS decides too; this helps the planner
    )
    if query:
        pattern = _like(query)
        stmt = stmt.where(or_(person.c.name.ilike(pattern, escape="\\"),
                              person.c.email.ilike(pattern, escape="\\")))
    if role:
        stmt = stmt.where(Membership.role == role)
    stmt = (
        stmt.order_by(func.lower(person.c.name), Membership.user_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    records = session.execute(stmt).all()
    can_edit = "roles.edit" in editor.permissions
    can_remove = "members.remove" in editor.permissions
    rows = [_row(editor, roles, r, can_edit=can_edit, can_remove=can_remove) for r in records]
    total = records[0].total if records else 0
    return MemberPage(rows, total, page, per_page, query, role)


def get_member(session: Session, *, org_id: uuid.UUID, editor: Editor,
               roles: dict[str, RoleInfo], user_id: uuid.UUID) -> MemberRow | None:
    record = session.execute(
        _member_columns().where(Membership.org_id == org_id, Membership.user_id == user_id)
    ).one_or_none()
    if record is None:
        return None
    return _row(editor, roles, record, can_edit="roles.edit" in editor.permissions,
                can_remove="members.remove" in editor.permissions)


def _lock_membership(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    membership = session.scalar(
        select(Membership)
        .where(Membership.org_id == org_id, Membership.user_id == user_id)
        .with_for_update()
    )
    if membership is None:
        raise MemberError("Not found.", status=404)  # another org's member reads as missing
    return membership


def _keep_an_owner(session: Session, org_id: uuid.UUID, leaving_user: uuid.UUID) -> None:
    owners = session.scalars(
        select(Membership.user_id)
        .where(Membership.org_id == org_id, Membership.role == OWNER)
        .with_for_update()
    ).all()
    if not [u for u in owners if u != leaving_user]:
        raise MemberError(
            "An organization needs at least one owner. Make someone else an owner first.",
            status=409,
        )


def _email_of(session: Session, user_id: uuid.UUID) -> str:
    return session.scalar(select(User.email).where(User.id == user_id)) or str(user_id)


def change_role(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    user_id: uuid.UUID,
    new_role: str,
    actor: Actor,
) -> None:
    target = roles.get(new_role)
    if target is None:
        raise MemberError("Choose one of the organization's roles.")
    membership = _lock_membership(session, org_id, user_id)
    current = role_of(roles, membership.role)
    if not may_manage(editor, current):
        raise MemberError(
            f"You cannot change the role of someone who is {current.name}.", status=403
        )
    if not may_grant(editor, target):
        raise MemberError(f"You cannot grant the {target.name} role.", status=403)
    if membership.role == target.key:
        return
    if membership.role == OWNER:
        _keep_an_owner(session, org_id, user_id)
    before = membership.role
    membership.role = target.key
    session.flush()
    record_audit(
        session, org_id=org_id, actor=actor, action="member.role_change",
        target=f"user:{_email_of(session, user_id)}",
        before={"role": before}, after={"role": target.key},
    )


def remove_member(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    user_id: uuid.UUID,
    actor: Actor,
) -> None:
    if user_id == editor.user_id:
        raise MemberError("To remove yourself, leave the organization instead.", status=400)
    membership = _lock_membership(session, org_id, user_id)
    current = role_of(roles, membership.role)
    if not may_manage(editor, current):
        raise MemberError(f"You cannot remove someone who is {current.name}.", status=403)
    if membership.role == OWNER:
        _keep_an_owner(session, org_id, user_id)
    record_audit(
        session, org_id=org_id, actor=actor, action="member.remove",
        target=f"user:{_email_of(session, user_id)}",
        before={"role": membership.role}, after={"role": None},
    )
    session.delete(membership)
    session.flush()


def leave(session: Session, *, org_id: uuid.UUID, user_id: uuid.UUID, actor: Actor) -> None:
    membership = _lock_membership(session, org_id, user_id)
    if membership.role == OWNER:
        _keep_an_owner(session, org_id, user_id)
    # Audit first: once the membership is gone this user's context reads (and writes) nothing.
    record_audit(
        session, org_id=org_id, actor=actor, action="member.leave",
        target=f"user:{_email_of(session, user_id)}",
        before={"role": membership.role}, after={"role": None},
    )
    session.delete(membership)
    session.flush()
