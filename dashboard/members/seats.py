"""How many seats an org may fill, and how many are taken. No Flask.

The limit comes from the org's plan or license (dashboard/licenses/: a license's own seat
count wins over the plan's; ``None`` means unlimited). Taken seats are members plus unexpired
pending invitations, so inviting cannot overshoot the plan once the invitations are accepted.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.licenses import service as licenses
from dashboard.models import Invitation, Membership


def seat_limit(session: Session, org_id: uuid.UUID) -> int | None:
    return licenses.entitlements(session, org_id).seat_limit


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
