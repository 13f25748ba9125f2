"""The members table's rows, written by one Python function (issue 20).

A page shows 50 rows; through a Jinja loop each cost what its body costs (an attribute look-up
per cell, an ``escape()`` per value, output passed up through the template's generators).
Here a row is one f-string over pieces that are HTML already.

ESCAPING: every value a person controls is escaped here, once: the name, the email, the role
name (and the role options' names) and the row's error (tests/security/test_members_web.py
sends markup in each). The rest is safe by construction: the URLs and the CSRF token are
escaped once per page, a user id is its hex, the ``<time>`` elements come from
``times.py`` (``display.time_element``'s text). A new cell that shows a person's value MUST
escape it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from markupsafe import Markup, escape

from dashboard.members import times
from dashboard.members.roles import RoleInfo
from dashboard.members.service import MemberRow

try:  # markupsafe's escaping without the Markup object ``escape`` wraps each answer in
    from markupsafe._speedups import _escape_inner
except ImportError:  # pragma: no cover - markupsafe without its C speedups, or renamed
    def _escape_inner(value: str) -> str:
        return str(escape(value))


def _escaped(value) -> str:
    """``str(markupsafe.escape(value))``, a tenth of the cost for a plain string."""
    return _escape_inner(value) if type(value) is str else str(escape(value))

_YOU = ' <span class="badge">you</span>'
_SAVED = '\n      <span class="row-saved" role="status">Saved</span>'


def rows_html(rows: Iterable[MemberRow], *, options: list[RoleInfo], member_base: str,
              leave_url: str, csrf: str, zone: str | None, saved: bool = False,
              error: str | None = None, now: datetime | None = None) -> Markup:
    """The ``<tr>`` of each row. ``member_base`` ("/o/acme/members"), ``leave_url`` and
    ``csrf`` as they are (escaped here); ``options``: the roles this editor may hand out."""
    base_prefix = _escaped(member_base) + "/"
    leave_href = _escaped(leave_url)
    csrf_html = _escaped(csrf)
    error_html = (f'\n    <p class="field-error" role="alert">{_escaped(error)}</p>'
                  if error else "")
    saved_html = _SAVED if saved else ""
    when = times.page_times(zone, now).element
    selects: dict[str, str] = {}  # role key -> the <option>s with that role selected
    out = []
    for row in rows:
        uid = row.user_id if type(row.user_id) is str else str(row.user_id)  # text: the list
        base = base_prefix + uid
        name = _escaped(row.name)
        role = row.role
        if row.can_change_role:
            options_html = selects.get(role.key)
            if options_html is None:
                options_html = selects[role.key] = _role_options(role, options)
            role_cell = (
                f'<form class="inline-role" method="post" action="{base}/role"\n'
                f'          hx-post="{base}/role" hx-trigger="change"\n'
                f'          hx-target="closest tr" hx-swap="outerHTML" data-swap-errors>\n'
                f'      <input type="hidden" name="csrf_token" value="{csrf_html}">\n'
                f'      <label class="visually-hidden" for="role-{uid}">Role of {name}</label>\n'
                f'      <select id="role-{uid}" name="role">{options_html}</select>\n'
                f'      <button type="submit" class="js-hide">Save</button>{saved_html}\n'
                f'    </form>')
        else:
            role_cell = f'<span data-testid="member-role">{_escaped(role.name)}</span>'
        if row.can_remove:
            action = (f'<a href="{base}/remove">Remove<span class="visually-hidden"> {name}'
                      '</span></a>')
        elif row.is_self:
            action = f'<a href="{leave_href}">Leave</a>'
        else:
            action = ""
        out.append(
            f'<tr id="member-{uid}" data-testid="member-row">\n'
            f'  <td><a href="{base}">{name}</a>{_YOU if row.is_self else ""}</td>\n'
            f'  <td>{_escaped(row.email)}</td>\n'
            f'  <td>\n    {role_cell}{error_html}\n  </td>\n'
            f'  <td>{when(row.joined_at)}</td>\n'
            f'  <td>{when(row.last_active_at, "Never")}</td>\n'
            f'  <td class="actions">{action}</td>\n'
            '</tr>\n')
    return Markup("".join(out))  # noqa: S704 - every piece escaped above


def _role_options(role: RoleInfo, options: list[RoleInfo]) -> str:
    """A select's options with ``role`` selected (shown even if this editor may not grant it:
    it is what the member holds)."""
    html = "" if role in options else (
        f'<option value="{_escaped(role.key)}" selected>{_escaped(role.name)}</option>')
    for option in options:
        selected = " selected" if option.key == role.key else ""
        html += (f'<option value="{_escaped(option.key)}"{selected}>'
                 f'{_escaped(option.name)}</option>')
    return html
