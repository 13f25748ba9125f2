"""A page rendered to bytes piece by piece (dashboard/rendering.py) is the page Flask renders,
encoded: the same bytes, the same context processors and template signals."""

from __future__ import annotations

from flask import Flask, render_template, template_rendered
from jinja2 import DictLoader
from markupsafe import Markup

from dashboard.rendering import render_bytes

TEMPLATES = {
    "base.html": "<title>{% block title %}{% endblock %} – {{ site }}</title>"
                 "{% block content %}{% endblock %}",
    "page.html": '{% extends "base.html" %}{% block title %}Zoë’s page{% endblock %}'
                 "{% block content %}{{ table }}<p>{{ note }}</p>"
                 '{% include "part.html" %}{% endblock %}',
    "part.html": "<footer>Next → {{ 'é' * 3 }} 🔒</footer>",
}


def _app() -> Flask:
    app = Flask("rendering")
    app.jinja_loader = DictLoader(TEMPLATES)
    app.context_processor(lambda: {"site": "Tenantdesk"})
    return app


def test_the_bytes_are_the_rendered_page_encoded():
    app = _app()
    context = {"table": Markup("<tr><td>ascii row</td></tr>" * 50),  # noqa: S704 - a literal
               "note": "<b>&</b> ü"}
    with app.test_request_context("/"):
        assert render_bytes("page.html", **context) == render_template(
            "page.html", **context).encode()


def test_template_signals_are_sent_as_for_render_template():
    app = _app()
    seen = []

    def record(sender, template, context, **extra):
        seen.append((template.name, context["site"]))

    template_rendered.connect(record, app)
    with app.test_request_context("/"):
        render_bytes("page.html", table="", note="")
    assert seen == [("page.html", "Tenantdesk")]
