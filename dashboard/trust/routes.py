"""The public trust page: the live isolation self-test's latest results and history (counts
and dates only). TRUST_PAGE=0 turns it off (404). HTTP only."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from dashboard import tenancy
from dashboard.permissions import public
from dashboard.trust import selftest

bp = Blueprint("trust", __name__)


@bp.route("/trust")
@public
def index():
    if not current_app.config.get("TRUST_PAGE", True):
        abort(404)
    runs = selftest.history(tenancy.request_session())
    return render_template("trust/index.html", runs=runs, latest=runs[0] if runs else None)
