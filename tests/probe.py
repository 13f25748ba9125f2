"""A test-only app with a few extra org pages, to observe what the guards let through.

Blueprints cannot be added to the shared app once it has served a request, so the tests
that need these pages build their own app on the same database.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, g

from dashboard import tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.permissions import Permission, requires

probe = Blueprint("probe", __name__)


@probe.route("/o/<slug>/probe/admin-page")
@requires(Permission.MEMBERS_INVITE)
def admin_page():
    return f"admin page of {g.membership.slug}"


@probe.route("/o/<slug>/probe/things/<uuid:thing_id>")
@requires(Permission.ORG_VIEW)
def thing(thing_id: uuid.UUID):
    return f"thing {thing_id}"


@probe.route("/o/<slug>/probe/action", methods=["POST"])
@requires(Permission.ORG_VIEW)
def action():
    """A state change: writes one audit row in the current org."""
    record_audit(
        tenancy.request_session(), org_id=g.membership.org_id, actor=request_actor(),
        action="probe.action",
    )
    return f"acted in {g.membership.slug}"


def make_probe_app(database_urls, tmp_dir):
    from tests.conftest import make_app

    app = make_app(database_urls, tmp_dir)
    app.register_blueprint(probe)
    return app


def add_orgs(user, count: int, role: str = "member"):
    """Give ``user`` ``count`` more orgs; returns them (sorted as the switcher sorts)."""
    from tests import factories

    orgs = []
    for _ in range(count):
        org = factories.OrgFactory()
        factories.MembershipFactory(org_id=org.id, user_id=user.id, role=role)
        orgs.append(org)
    return orgs


class ContextRecorder:
    """Records every RLS context (app.user_id, app.org_id) the app set while active."""

    def __init__(self, app) -> None:
        self.engine = app.extensions["tenantdesk.db"].engine
        self.contexts: list[tuple[str, str]] = []

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if "set_config('app.user_id'" in statement and isinstance(parameters, dict):
            self.contexts.append((parameters["user_id"], parameters["org_id"]))

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._seen)
        return False
