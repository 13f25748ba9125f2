"""What every template may use: the signed-in person, the active org, ``can(...)``."""

from __future__ import annotations

from flask import g, request

from dashboard.navigation import visible_items
from dashboard.permissions import can, role_label


def init_app(app) -> None:
    @app.context_processor
    def _globals():
        return {
            "principal": g.get("principal"),
            "membership": g.get("membership"),
            "support": g.get("support"),
            "can": can,
            "role_label": role_label,
            "current_path": request.full_path.rstrip("?") if request else "/",
            "nav_items": visible_items(g.get("membership"), request.endpoint),
        }
