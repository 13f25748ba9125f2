"""Audit-log streams page: send every audit event to a SIEM (HTTPS JSON or Splunk HEC), with
its lag and delivery log. HTTP only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from dashboard import navigation, tenancy
from dashboard.audit.web import request_actor
from dashboard.events import endpoints, log, streams
from dashboard.events.forms import ActionForm, StreamForm
from dashboard.events.routes import allow_private, requires_step_up, secret_key
from dashboard.licenses.features import Feature
from dashboard.licenses.web import has_feature, requires_feature
from dashboard.permissions import Permission, requires

bp = Blueprint("audit_streams", __name__)
navigation.register("Audit streams", "audit_streams.index", Permission.AUDIT_STREAMS, order=93,
                    feature=Feature.AUDIT_STREAMING)


def _index(form: StreamForm, status: int = 200):
    session = tenancy.request_session()
    rows = [(s, streams.lag_seconds(session, s.id))
            for s in endpoints.list_destinations(session, streams=True)]
    return render_template(
        "events/streams.html", form=form, streams=rows, kinds=endpoints.STREAM_KINDS,
        included=has_feature(Feature.AUDIT_STREAMING), action_form=ActionForm(),
    ), status


@bp.route("/o/<slug>/audit-streams")
@requires(Permission.AUDIT_STREAMS)
def index():
    return _index(StreamForm(formdata=None))


@bp.route("/o/<slug>/audit-streams", methods=["POST"])
@requires(Permission.AUDIT_STREAMS)
@requires_feature(Feature.AUDIT_STREAMING)
@requires_step_up
def create():
    form = StreamForm()
    if not form.validate_on_submit():
        return _index(form, status=400)
    try:
        created = endpoints.create(
            tenancy.request_session(), org_id=g.membership.org_id, kind=form.kind.data,
            url=form.url.data, description=form.description.data, token=form.token.data,
            created_by=g.principal.user_id, actor=request_actor(), secret_key=secret_key(),
            allow_private=allow_private(),
        )
    except endpoints.DestinationError as exc:
        getattr(form, exc.field, form.url).errors.append(exc.message)
        return _index(form, status=400)
    flash("Stream added: every audit event from now on is sent to it, in order.", "success")
    return redirect(url_for("audit_streams.show", stream_id=created.destination.id), 303)


def _stream(stream_id: str):
    destination = endpoints.get(tenancy.request_session(), stream_id, streams=True)
    if destination is None:
        abort(404)
    return destination


@bp.route("/o/<slug>/audit-streams/<stream_id>")
@requires(Permission.AUDIT_STREAMS)
def show(stream_id: str):
    destination = _stream(stream_id)
    session = tenancy.request_session()
    return render_template(
        "events/stream.html", stream=destination, kinds=endpoints.STREAM_KINDS,
        lag=streams.lag_seconds(session, destination.id),
        deliveries=log.recent(session, destination.id), counts=log.counts(session, destination.id),
        action_form=ActionForm(),
    )


@bp.route("/o/<slug>/audit-streams/<stream_id>/state", methods=["POST"])
@requires(Permission.AUDIT_STREAMS)
def set_state(stream_id: str):
    destination = _stream(stream_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    enabled = request.form.get("enabled") == "1"
    endpoints.set_enabled(tenancy.request_session(), destination, enabled, actor=request_actor())
    flash("Stream enabled." if enabled else "Stream disabled.", "success")
    return redirect(url_for("audit_streams.show", stream_id=destination.id), 303)


@bp.route("/o/<slug>/audit-streams/<stream_id>/delete", methods=["POST"])
@requires(Permission.AUDIT_STREAMS)
def delete(stream_id: str):
    destination = _stream(stream_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    endpoints.delete(tenancy.request_session(), destination, actor=request_actor())
    flash("Stream deleted.", "success")
    return redirect(url_for("audit_streams.index"), 303)
