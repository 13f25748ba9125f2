"""Webhook endpoints page: list, create (secret shown once), edit, rotate the secret,
enable/disable, delete, delivery log and manual redelivery. HTTP only."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from dashboard import navigation, tenancy
from dashboard.audit.web import request_actor
from dashboard.events import endpoints, log, outbox  # noqa: F401 - outbox registers hooks
from dashboard.events.catalogue import CATALOGUE
from dashboard.events.forms import ActionForm, WebhookForm
from dashboard.licenses.features import Feature
from dashboard.licenses.web import has_feature, requires_feature
from dashboard.permissions import Permission, requires

bp = Blueprint("webhooks", __name__)
navigation.register("Webhooks", "webhooks.index", Permission.WEBHOOKS_MANAGE, order=92,
                    feature=Feature.WEBHOOKS)

try:  # the accounts area's re-authentication guard ("sudo mode"), once it has landed
    from dashboard.accounts.stepup import step_up as requires_step_up
except ImportError:  # pragma: no cover - until then, creation needs the permission only
    def requires_step_up(view):
        return view


def allow_private() -> bool:
    return bool(current_app.config.get("ALLOW_PRIVATE_EVENT_URLS"))


def secret_key() -> str:
    return current_app.config["SECRET_KEY"]


def _index(form: WebhookForm, created: endpoints.Created | None = None, status: int = 200):
    session = tenancy.request_session()
    return render_template(
        "events/webhooks.html", form=form, created=created,
        endpoints=endpoints.list_destinations(session, streams=False),
        catalogue=CATALOGUE, included=has_feature(Feature.WEBHOOKS), action_form=ActionForm(),
    ), status


@bp.route("/o/<slug>/webhooks")
@requires(Permission.WEBHOOKS_MANAGE)
def index():
    return _index(WebhookForm(formdata=None))


@bp.route("/o/<slug>/webhooks", methods=["POST"])
@requires(Permission.WEBHOOKS_MANAGE)
@requires_feature(Feature.WEBHOOKS)
@requires_step_up
def create():
    form = WebhookForm()
    if not form.validate_on_submit():
        return _index(form, status=400)
    try:
        created = endpoints.create(
            tenancy.request_session(), org_id=g.membership.org_id, kind=endpoints.WEBHOOK,
            url=form.url.data, description=form.description.data,
            event_types=form.event_types.data or [], created_by=g.principal.user_id,
            actor=request_actor(), secret_key=secret_key(), allow_private=allow_private(),
        )
    except endpoints.DestinationError as exc:
        getattr(form, exc.field, form.url).errors.append(exc.message)
        return _index(form, status=400)
    # Rendered, not redirected: the secret must not travel through the session or a URL.
    return _index(WebhookForm(formdata=None), created=created, status=201)


def _endpoint(endpoint_id: str):
    destination = endpoints.get(tenancy.request_session(), endpoint_id, streams=False)
    if destination is None:
        abort(404)
    return destination


def _show(destination, form: WebhookForm | None = None, secret: str | None = None,
          status: int = 200):
    session = tenancy.request_session()
    if form is None:
        form = WebhookForm(formdata=None, data={
            "url": destination.url, "description": destination.description,
            "event_types": list(destination.event_types or [])})
    return render_template(
        "events/webhook.html", endpoint=destination, form=form, secret=secret,
        deliveries=log.recent(session, destination.id), counts=log.counts(session, destination.id),
        action_form=ActionForm(),
    ), status


@bp.route("/o/<slug>/webhooks/<endpoint_id>")
@requires(Permission.WEBHOOKS_MANAGE)
def show(endpoint_id: str):
    return _show(_endpoint(endpoint_id))


@bp.route("/o/<slug>/webhooks/<endpoint_id>", methods=["POST"])
@requires(Permission.WEBHOOKS_MANAGE)
def update(endpoint_id: str):
    destination = _endpoint(endpoint_id)
    form = WebhookForm()
    if not form.validate_on_submit():
        return _show(destination, form, status=400)
    try:
        endpoints.update(tenancy.request_session(), destination, url=form.url.data,
                         description=form.description.data,
                         event_types=form.event_types.data or [], actor=request_actor(),
                         allow_private=allow_private())
    except endpoints.DestinationError as exc:
        getattr(form, exc.field, form.url).errors.append(exc.message)
        return _show(destination, form, status=400)
    flash("Endpoint saved.", "success")
    return redirect(url_for("webhooks.show", endpoint_id=destination.id), 303)


@bp.route("/o/<slug>/webhooks/<endpoint_id>/rotate", methods=["POST"])
@requires(Permission.WEBHOOKS_MANAGE)
def rotate(endpoint_id: str):
    destination = _endpoint(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    secret = endpoints.rotate_secret(tenancy.request_session(), destination,
                                     actor=request_actor(), secret_key=secret_key())
    return _show(destination, secret=secret)


@bp.route("/o/<slug>/webhooks/<endpoint_id>/state", methods=["POST"])
@requires(Permission.WEBHOOKS_MANAGE)
def set_state(endpoint_id: str):
    destination = _endpoint(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    enabled = request.form.get("enabled") == "1"
    endpoints.set_enabled(tenancy.request_session(), destination, enabled, actor=request_actor())
    flash("Endpoint enabled." if enabled else "Endpoint disabled.", "success")
    return redirect(url_for("webhooks.show", endpoint_id=destination.id), 303)


@bp.route("/o/<slug>/webhooks/<endpoint_id>/delete", methods=["POST"])
@requires(Permission.WEBHOOKS_MANAGE)
def delete(endpoint_id: str):
    destination = _endpoint(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    endpoints.delete(tenancy.request_session(), destination, actor=request_actor())
    flash("Endpoint deleted; nothing more is sent to it.", "success")
    return redirect(url_for("webhooks.index"), 303)


@bp.route("/o/<slug>/webhooks/<endpoint_id>/deliveries/<delivery_id>/redeliver",
          methods=["POST"])
@requires(Permission.WEBHOOKS_MANAGE)
def redeliver(endpoint_id: str, delivery_id: str):
    destination = _endpoint(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if log.redeliver(tenancy.request_session(), destination, delivery_id,
                     actor=request_actor()) is None:
        abort(404)
    flash("Queued for redelivery.", "success")
    return redirect(url_for("webhooks.show", endpoint_id=destination.id), 303)
