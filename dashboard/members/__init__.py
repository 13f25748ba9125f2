"""Members, invitations and roles of an org.

- service.py          member list, role change, removal, leaving (rules; no Flask)
- roles.py            role catalogue, who may grant what, custom roles (no Flask)
- invitations.py      invitation tokens, sending, accepting (no Flask)
- seats.py            the seat-limit hook the licenses area backs with plans
- routes.py, invitation_routes.py, role_routes.py, metadata_routes.py   HTTP only
"""

from __future__ import annotations


def init_app(app) -> None:
    from dashboard import navigation
    from dashboard.members import (
        invitation_routes,
        metadata_routes,  # noqa: F401 - adds its route to routes.bp
        role_routes,
        routes,
    )
    from dashboard.permissions import Permission

    app.register_blueprint(routes.bp)
    app.register_blueprint(invitation_routes.bp)
    app.register_blueprint(role_routes.bp)
    navigation.register("Members", "members.index", Permission.MEMBERS_VIEW, order=20)
    navigation.register("Invitations", "invitations.index", Permission.MEMBERS_INVITE, order=21)
    navigation.register("Roles", "roles.index", Permission.ROLES_EDIT, order=22)
