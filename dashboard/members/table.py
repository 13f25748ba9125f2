"""The members table's rows as plain tuples, in the order templates/members/partials/rows.html
unpacks them in its loop header (issue 20: a tuple unpacked costs nothing per cell; an
attribute read in a template is a call through ``Environment.getattr``)."""

from __future__ import annotations

from dashboard.members.service import MemberRow


def cells(rows: list[MemberRow]) -> list[tuple]:
    return [
        (str(r.user_id), r.name, r.email, r.role, r.joined_at, r.last_active_at, r.is_self,
         r.can_change_role, r.can_remove)
        for r in rows
    ]
