"""How many seats an org may fill: the hook the licenses area backs with plans.

``seat_limit`` is the only function the member code asks. Until dashboard/licenses/ offers a
plan-based answer it returns ``DEFAULT_SEAT_LIMIT`` for every org, a deliberately conservative
figure. ``None`` would mean "unlimited".
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.models import Invitation, Membership

DEFAULT_SEAT_LIMIT = 50


def seat_limit(session: Session, org_id: uuid.UUID) -> int | None:
    # HOOK (licenses): replace with the plan's seat count once dashboard/licenses/ is on main.
    return DEFAULT_SEAT_LIMIT


def seats_in_use(session: Session, org_id: uuid.UUID) -> int:
    """Members plus unexpired pending invitations (an invitation holds its seat until it lapses)."""
    members = select(func.count()).where(Membership.org_id == org_id).scalar_subquery()
    pending = (
        select(func.count())
        .where(Invitation.org_id == org_id, Invitation.status == "pending",
               Invitation.expires_at > func.now())
        .scalar_subquery()
    )
    return session.scalar(select(members + pending)) or 0
