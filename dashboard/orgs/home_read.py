"""The org home's one read riding in the session check's statement
(``principal.principal_with``): one statement per request, not two (issue 20, session 11).
No Flask routing here; the route (routes.py) wires it.

Which panels a viewer may see depends on their role, which only the check reads; the rider
is built for the role the token names, when it is a built-in role (a custom role's
permissions are read by the check itself), and the page uses the carried read only when
the check found exactly those permissions, for the org the token names. Anything else (a
role changed since the token was issued, a custom role, support mode, Flask-Login's stock
path) and the page reads as before (``home.home``): a second statement, never another
viewer's panels.

Only on the shared tier: elsewhere the usage section's rollups are not the shared schema's
tables, and reading them in a transaction of their own would read the entitlements again.
An org last seen on another tier gets no rider (``_elsewhere``, this worker's memory of
where orgs were; a hint only: the route the check admits decides every time).
"""

from __future__ import annotations

import uuid

from flask import g, session

from dashboard import cell_reads, tenancy
from dashboard.orgs import home
from dashboard.permissions import BUILTIN_ROLES, permissions_for
from dashboard.usage import web as usage_web

_ASSUMED = "home_read"  # on g: (org id text, permissions, usage read) the rider was built for
_elsewhere: set[str] = set()  # orgs whose cells were last seen off the shared tier
_ELSEWHERE_AT_MOST = 10_000


def rider(req) -> tuple[str, dict] | None:
    """``principal_with``'s rider: the home's read for the token's org and built-in role."""
    role = session.get("role")
    org = tenancy.canonical_id(session.get("oid") or "")
    if not org or role not in BUILTIN_ROLES or org in _elsewhere:
        return None
    permissions = permissions_for(role)
    usage = usage_web.home_rollups_for(uuid.UUID(org), permissions)
    g._get_current_object().home_read = (org, permissions, usage)
    return home.rider(permissions, usage)


def page(membership):
    """``(overview, panels, usage read)`` for the home, or None (the org not visible: 404):
    from the read the check carried when it applies, else from the home's own statement."""
    db = tenancy.request_session()
    found = _carried(db, membership)
    if found is not None:
        return found
    usage = usage_web.home_rollups()  # read by the home's statement where it can
    found = home.home(db, membership.org_id, frozenset(membership.permissions), usage)
    _note_tier(str(membership.org_id), db)
    return None if found is None else (*found, usage)


def _carried(db, membership):
    request_g = g._get_current_object()
    assumed = request_g.pop(_ASSUMED, None)
    check = request_g.get("principal_rider")
    if assumed is None or check is None:
        return None
    org, permissions, usage = assumed
    if str(membership.org_id) != org or membership.permissions != permissions:
        return None
    if not cell_reads.cells_packable(db):  # the route the check admitted
        return None
    found = home.carried(db, check[1], permissions, usage)
    return None if found is None else (*found, usage)


def _note_tier(org: str, db) -> None:
    if cell_reads.cells_packable(db):
        _elsewhere.discard(org)
    else:
        if len(_elsewhere) >= _ELSEWHERE_AT_MOST:
            _elsewhere.clear()
        _elsewhere.add(org)
