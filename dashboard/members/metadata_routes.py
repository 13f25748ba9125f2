"""Editing a member's metadata on the member's page. HTTP only.

The same door as ``PATCH /api/v1/members/<id>`` with ``metadata``: the same permission
(``roles.edit``), the same visibility (a member the editor cannot see, or another org's,
is 404), the same rules and audit (``metadata.replace_member_metadata``: the whole map is
replaced, ``member.update`` written in the same transaction when anything changed). Bad
input is answered 400 on the page with the rows as typed; nothing is stored.
"""

from __future__ import annotations

import uuid

from flask import abort, flash, g, redirect, render_template, request, url_for

from dashboard import tenancy
from dashboard.audit.web import request_actor
from dashboard.members import roles as role_rules
from dashboard.members import service
from dashboard.members.forms import (
    ConfirmForm,
    MetadataRowsError,
    metadata_from_rows,
    metadata_rows,
    posted_metadata_rows,
)
from dashboard.members.routes import bp
from dashboard.members.web import editor, problem
from dashboard.metadata import rules
from dashboard.metadata import service as metadata
from dashboard.permissions import Permission, requires


@bp.app_template_global("member_metadata_rows")
def _rows(values: dict[str, str]) -> list[tuple[str, str]]:
    """The edit form's rows for the stored map (the member page is rendered in routes.py)."""
    return metadata_rows(values, rules.MAX_KEYS)


@bp.route("/o/<slug>/members/<uuid:user_id>/metadata", methods=["POST"])
@requires(Permission.ROLES_EDIT)
def edit_metadata(user_id: uuid.UUID):
    db = tenancy.request_session()
    org_id = g.membership.org_id
    row = service.get_member(db, org_id=org_id, editor=editor(),
                             roles=role_rules.catalogue(db), user_id=user_id)
    if row is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        return problem("Your form expired. Reload the page and try again.", 400)
    rows: list[tuple[str, str]] = []
    try:
        rows = posted_metadata_rows(request.form)
        values = metadata_from_rows(rows)
        metadata.replace_member_metadata(db, org_id, user_id, values,
                                         actor=request_actor(), target=f"user:{row.email}")
    except (MetadataRowsError, rules.MetadataError) as exc:
        current = metadata.read(db, metadata.MEMBER, org_id, [user_id]).get(user_id, {})
        return render_template("members/detail.html", row=row, metadata=current,
                               metadata_rows=rows or None, metadata_error=exc.message), 400
    flash("Metadata saved.", "success")
    return redirect(url_for("members.detail", user_id=user_id, _anchor="metadata-title"), 303)
