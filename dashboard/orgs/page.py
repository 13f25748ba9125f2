"""The org home's content (overview, checklist, pending invitations, recent activity) as
HTML, built in Python (issue 20).

As Jinja the content block cost more than the statement that reads it (a loop per panel, a
filter call per value, a ``url_for`` per step). Every value is escaped here with
``markupsafe.escape``, exactly as the former autoescaped templates/orgs/home.html did;
tests/db/test_layout.py checks the page is byte for byte what that template rendered.
"""

from __future__ import annotations

from flask import url_for
from markupsafe import Markup, escape

from dashboard import display, vocabulary
from dashboard.layout import _kept_piece, _url_key
from dashboard.orgs.home import HomePanels
from dashboard.orgs.service import OrgOverview
from dashboard.permissions import role_label

_LOCK = (
    ' <span class="lock" title="Not included in your plan">🔒<span class="visually-hidden">'
    " (not in your plan)</span></span>"
)


def content(
    overview: OrgOverview,
    panels: HomePanels,
    role: str,
    zone: str | None,
    usage_home: Markup | None,
) -> Markup:
    """The home's content block; ``zone`` is the viewer's time zone (None: UTC)."""
    pieces = [
        f'\n<h1 data-testid="org-title">{escape(overview.name)}</h1>\n<dl class="stats">\n'
        f'  <div><dt>Your role</dt><dd data-testid="my-role">{escape(role_label(role))}</dd>'
        "</div>\n"
        f'  <div><dt>Members</dt><dd data-testid="member-count">{escape(overview.member_count)}'
        "</dd></div>\n"
        f'  <div><dt>Plan</dt><dd data-testid="plan">{escape(str(overview.plan).capitalize())}'
        "</dd></div>\n</dl>\n\n",
        _checklist(panels) if panels.checklist else "",
        "\n",
        _invitations(panels, zone) if panels.invitations is not None else "",
        "\n\n",
        _events(panels, zone) if panels.events is not None else "",
        "\n\n",
        usage_home or "",
        "\n\n",
    ]
    return Markup("".join(pieces))  # noqa: S704 - every value escaped above


def _checklist(panels: HomePanels) -> str:
    """The checklist, kept per process: it shows nothing but each step's own constants
    (orgs/home.py ``_STEPS``: label, hint, link) and whether it is done or locked, all in the
    key with the URL key the links are built under (layout.py)."""
    url_key = _url_key()
    key = url_key and (
        "home-checklist",
        url_key,
        tuple((step.key, step.done, step.locked) for step in panels.checklist or ()),
    )
    return _kept_piece(key, lambda: _checklist_html(panels))


def _checklist_html(panels: HomePanels) -> str:
    steps = panels.checklist or []
    items = []
    for step in steps:
        if step.done:
            body = (
                f'<span aria-hidden="true">✓</span> <s>{escape(step.label)}</s>'
                '<span class="visually-hidden"> (done)</span>\n      '
            )
        else:
            body = (
                f'<a href="{escape(url_for(step.endpoint))}">{escape(step.label)}</a>'
                f"{_LOCK if step.locked else ''}\n"
                f'        <span class="hint">{escape(step.hint)}</span>'
            )
        items.append(
            f'\n    <li data-step="{escape(step.key)}"'
            f' data-done="{"true" if step.done else "false"}">\n      {body}\n'
            "    </li>\n    "
        )
    return (
        '\n<section class="card" aria-labelledby="getting-started-heading"'
        ' data-testid="getting-started">\n'
        '  <h2 id="getting-started-heading">Getting started</h2>\n'
        f'  <p class="muted">{escape(panels.checklist_done)} of {len(steps)} done.</p>\n'
        '  <ol class="checklist">\n    ' + "".join(items) + "\n  </ol>\n</section>\n"
    )


def _invitations(panels: HomePanels, zone: str | None) -> str:
    pending, total = panels.invitations or [], panels.invitations_total
    heading = f" ({escape(total)})" if total else ""
    if pending:
        rows = "".join(
            f"\n    <li>{escape(i.email)} · {escape(role_label(i.role))} · sent "
            f"{display.when_html(i.sent_at, zone)}</li>\n    "
            for i in pending
        )
        listing = f"\n  <ul>\n    {rows}\n  </ul>\n  "
    else:
        listing = '\n  <p class="muted">No pending invitations.</p>\n  '
    link = f"All {escape(total)} invitations" if total > len(pending) else "Invite people"
    return (
        '\n\n<section class="card" aria-labelledby="pending-heading"'
        ' data-testid="pending-invitations">\n'
        f'  <h2 id="pending-heading">Pending invitations{heading}</h2>\n  {listing}\n'
        f'  <p><a href="{escape(url_for("invitations.index"))}">{link}</a></p>\n'
        "</section>\n"
    )


def _events(panels: HomePanels, zone: str | None) -> str:
    events = panels.events or []
    if events:
        rows = "".join(
            f"\n    <li>{display.when_html(at, zone)} · {escape(actor)} · <span"
            f' title="{escape(action)}">{escape(vocabulary.action_label(action))}</span>'
            f"{f' · {escape(target)}' if target else ''}</li>\n    "
            for at, actor, action, target in events
        )
        listing = f"\n  \n  \n  <ul>\n    {rows}\n  </ul>\n  "
    else:
        listing = '\n  <p class="muted">Nothing yet.</p>\n  '
    return (
        '\n<section class="card" aria-labelledby="recent-heading"'
        ' data-testid="recent-events">\n'
        f'  <h2 id="recent-heading">Recent activity</h2>\n  {listing}\n'
        f'  <p><a href="{escape(url_for("audit.index"))}">The whole audit log</a></p>\n'
        "</section>\n"
    )
