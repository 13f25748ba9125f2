"""``/dev/mail``: read the local outbox in development/demo mode only.

Registered only when ``DEV_MAIL_VIEWER`` is on (env ``TENANTDESK_DEV_MAIL=1``, which
``tenantdesk run`` / ``make run`` sets). A production config (``gunicorn wsgi:app`` without that
variable) has no such route at all. It is public on purpose: in a demo the person reading an
invitation is not signed in yet.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, render_template

from dashboard.permissions import public

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")

_LINK = re.compile(r"https?://[^\s<>\"']+")


def _mailer():
    return current_app.extensions["tenantdesk.mail"]


@bp.route("/")
@public
def index():
    mailer = _mailer()
    messages = []
    for name in mailer.outbox_names():
        message = mailer.read_outbox(name)
        if message is not None:
            messages.append({"name": name, "to": message["To"], "subject": message["Subject"],
                             "date": message["Date"]})
    return render_template("dev/mail.html", messages=messages, outbox=str(mailer.outbox))


@bp.route("/<name>")
@public
def show(name: str):
    message = _mailer().read_outbox(name)
    if message is None:
        abort(404)
    body = message.get_body(("plain",))
    text = body.get_content() if body else ""
    return render_template(
        "dev/mail_message.html", message=message, text=text, links=_LINK.findall(text)
    )


def init_app(app) -> None:
    if app.config.get("DEV_MAIL_VIEWER"):
        app.register_blueprint(bp)
