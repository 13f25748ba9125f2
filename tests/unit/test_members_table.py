"""The members table's rows (dashboard/members/table.py): every value a person controls is
escaped, the rest is written as it is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from markupsafe import escape

from dashboard.members import table
from dashboard.members.roles import RoleInfo
from dashboard.members.service import MemberRow

MARKUP = "<script>alert('x')</script> & \"q\""
NOW = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
ROLE = RoleInfo("custom", MARKUP, frozenset(), False)
ADMIN = RoleInfo("admin", "Admin", frozenset(), True)


def _row(**changes) -> MemberRow:
    values = dict(user_id=uuid.UUID(int=7), name=MARKUP, email=MARKUP + "@x.test", role=ROLE,
                  joined_at=NOW, last_active_at=None, is_self=False, can_change_role=True,
                  can_remove=True)
    return MemberRow(**{**values, **changes})


def _html(rows, **kw) -> str:
    return str(table.rows_html(rows, options=[ADMIN], member_base="/o/a&b/members",
                               leave_url="/o/a&b/leave", csrf='to"ken', zone=None, now=NOW,
                               **kw))


def test_every_value_a_person_controls_is_escaped():
    html = _html([_row(), _row(can_change_role=False, can_remove=False, is_self=True)],
                 error=MARKUP)
    assert "<script>" not in html and str(escape(MARKUP)) in html
    assert html.count(str(escape(MARKUP))) >= 8  # names, emails, role names, errors
    assert '/o/a&amp;b/members/00000000-0000-0000-0000-000000000007/role' in html
    assert 'value="to&#34;ken"' in html and 'href="/o/a&amp;b/leave"' in html


def test_escaping_is_markupsafe_escaping():
    for value in (MARKUP, "", "plain", "Zoë ’ &amp;", 42):
        assert table._escaped(value) == str(escape(value))


def test_the_member_s_own_role_is_an_option_even_when_it_cannot_be_granted():
    html = _html([_row()])
    assert f'<option value="custom" selected>{escape(MARKUP)}</option>' in html
    assert '<option value="admin">Admin</option>' in html
    assert _html([_row(role=ADMIN)]).count("<option") == 1
