"""The org home's one read riding in the session check's statement
(``principal.principal_with``): one statement per request, not two (issue 20, session 11).
No Flask routing here; the route (routes.py) wires it.

Which panels a viewer may see depends on their role, which only the check reads; the rider
is built for the role the token names, when it is a built-in role (a custom role's
permissions are read by the check itself), and the route uses the carried read only when
the check found exactly those permissions, for the org the token names. Anything else (a
role changed since the token was issued, a custom role, support mode, Flask-Login's stock
path) and the route reads as before (``home.home``): a second statement, never another
viewer's panels.
"""

from __future__ import annotations

import uuid

from flask import g, session

from dashboard import tenancy
from dashboard.orgs import home
from dashboard.permissions import BUILTIN_ROLES, permissions_for
from dashboard.usage import web as usage_web

_ASSUMED = "home_read"  # on g: (org id text, permissions, usage read) the rider was built for


def rider(req) -> tuple[str, dict] | None:
    """``principal_with``'s rider: the home's read for the token's org and built-in role."""
    role = session.get("role")
    org = tenancy.canonical_id(session.get("oid") or "")
    if not org or role not in BUILTIN_ROLES:
        return None
    permissions = permissions_for(role)
    usage = usage_web.home_rollups_for(uuid.UUID(org), permissions)
    g._get_current_object().home_read = (org, permissions, usage)
    return home.rider(permissions, usage)


def carried(membership):
    """``(overview, panels, usage read)`` from the read the check carried, or None (not
    carried, or carried for other permissions or another org than the check found)."""
    request_g = g._get_current_object()
    assumed = request_g.pop(_ASSUMED, None)
    check = request_g.get("principal_rider")
    if assumed is None or check is None:
        return None
    org, permissions, usage = assumed
    if str(membership.org_id) != org or membership.permissions != permissions:
        return None
    found = home.carried(tenancy.request_session(), check[1], permissions, usage)
    return None if found is None else (*found, usage)
