"""Ownership transfer and the sole owner's ways out. No Flask; the caller passes its session.

An owner hands the org to another member: the member becomes an owner, the giver steps down
to admin (or leaves, when that was the point). Both changes are ``member.role_change`` audit
rows (the giver's leaving a ``member.leave`` row), so the outbox emits the same
``membership.role_changed`` / ``membership.removed`` events as any hand-made change. Owner
rows are locked first, in one order, as in service.py, so two owners transferring at once
cannot leave the org without one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.members.roles import OWNER
from dashboard.members.service import MemberError, _email_of, _lock_membership
from dashboard.models import Membership, User

STEP_DOWN_TO = "admin"
SUCCESSORS_SHOWN = 200  # a select, not a search: more than this and the owner types an email


@dataclass(frozen=True)
class Successor:
    user_id: uuid.UUID
    name: str
    email: str
    role: str


def is_sole_owner(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether ``user_id`` is the org's only owner (one indexed query, no lock)."""
    owners = session.scalars(
        select(Membership.user_id)
        .where(Membership.org_id == org_id, Membership.role == OWNER)
        .limit(2)
    ).all()
    return owners == [user_id]


def successors(session: Session, org_id: uuid.UUID, owner_id: uuid.UUID) -> list[Successor]:
    """Members who could take over, by name (owners already are one)."""
    rows = session.execute(
        select(Membership.user_id, User.name, User.email, Membership.role)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id, Membership.user_id != owner_id,
               Membership.role != OWNER)
        .order_by(Membership.sort_name, Membership.user_id)
        .limit(SUCCESSORS_SHOWN)
    ).all()
    return [Successor(*row) for row in rows]


def transfer(
    session: Session,
    *,
    org_id: uuid.UUID,
    owner_id: uuid.UUID,
    owner_role: str,
    new_owner_id: uuid.UUID,
    then_leave: bool,
    actor: Actor,
) -> None:
    """Make ``new_owner_id`` an owner; the giver becomes admin, or leaves."""
    if owner_role != OWNER:
        raise MemberError("Only an owner can transfer ownership.", status=403)
    if new_owner_id == owner_id:
        raise MemberError("Choose another member to take over.", status=400)
    # Lock both rows in a fixed order (by id): two transfers at once wait, never deadlock.
    first, second = sorted((owner_id, new_owner_id))
    rows = {uid: _lock_membership_or_none(session, org_id, uid) for uid in (first, second)}
    giver, taker = rows[owner_id], rows[new_owner_id]
    if giver is None or giver.role != OWNER:
        raise MemberError("Only an owner can transfer ownership.", status=403)
    if taker is None:
        raise MemberError("That person is not a member of this organization.", status=404)
    if taker.role != OWNER:
        before = taker.role
        taker.role = OWNER
        session.flush()
        record_audit(
            session, org_id=org_id, actor=actor, action="member.role_change",
            target=f"user:{_email_of(session, new_owner_id)}",
            before={"role": before}, after={"role": OWNER, "via": "ownership transfer"},
        )
    giver_email = _email_of(session, owner_id)
    if then_leave:
        record_audit(
            session, org_id=org_id, actor=actor, action="member.leave",
            target=f"user:{giver_email}",
            before={"role": OWNER}, after={"role": None, "via": "ownership transfer"},
        )
        session.delete(giver)
    else:
        giver.role = STEP_DOWN_TO
        record_audit(
            session, org_id=org_id, actor=actor, action="member.role_change",
            target=f"user:{giver_email}",
            before={"role": OWNER}, after={"role": STEP_DOWN_TO, "via": "ownership transfer"},
        )
    session.flush()


def _lock_membership_or_none(session: Session, org_id: uuid.UUID,
                             user_id: uuid.UUID) -> Membership | None:
    try:
        return _lock_membership(session, org_id, user_id)
    except MemberError:
        return None
