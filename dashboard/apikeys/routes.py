"""The org's API keys page: list, create (secret shown once), revoke. HTTP only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for

from dashboard import navigation, tenancy
from dashboard.accounts.stepup import step_up
from dashboard.apikeys import service
from dashboard.apikeys.forms import SCOPE_LABELS, CreateKeyForm, RevokeKeyForm
from dashboard.apikeys.web import hmac_key
from dashboard.audit.web import request_actor
from dashboard.licenses.features import Feature
from dashboard.licenses.web import has_feature, requires_feature
from dashboard.metadata import rules as metadata_rules
from dashboard.permissions import Permission, requires

bp = Blueprint("apikeys", __name__)
navigation.register("API keys", "apikeys.index", Permission.APIKEYS_MANAGE, order=90,
                    feature=Feature.API_ACCESS)


def _page(form: CreateKeyForm, created: service.CreatedKey | None = None, status: int = 200):
    keys = service.list_keys(tenancy.request_session())
    return (
        render_template(
            "apikeys/index.html",
            form=form,
            keys=keys,
            created=created,
            revoke_form=RevokeKeyForm(),
            scope_labels=SCOPE_LABELS,
            now=datetime.now(UTC),
            api_included=has_feature(Feature.API_ACCESS),
        ),
        status,
    )


@bp.route("/o/<slug>/api-keys")
@requires(Permission.APIKEYS_MANAGE)
def index():
    return _page(CreateKeyForm(formdata=None))


@bp.route("/o/<slug>/api-keys", methods=["POST"])
@requires(Permission.APIKEYS_MANAGE)
@requires_feature(Feature.API_ACCESS)
@step_up
def create():
    form = CreateKeyForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    expires = form.expires.data
    try:
        metadata = metadata_rules.parse_lines(form.metadata.data)
    except metadata_rules.MetadataError as exc:
        form.metadata.errors.append(exc.message)
        return _page(form, status=400)
    try:
        created = service.create_key(
            tenancy.request_session(),
            org_id=g.membership.org_id,
            name=form.name.data,
            scopes=form.scopes.data or [],
            # A date means "through the end of that day", UTC.
            expires_at=datetime.combine(expires, time.max, UTC) if expires else None,
            created_by=g.principal.user_id,
            hmac_key=hmac_key(),
            actor=request_actor(),
            metadata=metadata,
        )
    except service.ApiKeyError as exc:
        getattr(form, exc.field).errors.append(exc.message)
        return _page(form, status=400)
    # Rendered, not redirected: the secret must not travel through the session or a URL.
    return _page(CreateKeyForm(formdata=None), created=created, status=201)


@bp.route("/o/<slug>/api-keys/<key_id>/revoke", methods=["POST"])
@requires(Permission.APIKEYS_MANAGE)
def revoke(key_id: str):
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        abort(404)
    if not RevokeKeyForm().validate_on_submit():
        abort(400)
    key = service.revoke_key(tenancy.request_session(), parsed, request_actor())
    if key is None:
        abort(404)
    flash(f"Revoked the key “{key.name}”. It stops working on its next request.", "success")
    return redirect(url_for("apikeys.index"), 303)
