"""What every template may use: the signed-in person, the active org, ``can(...)``."""

from __future__ import annotations

from pathlib import Path

from flask import g
from jinja2 import FileSystemBytecodeCache

from dashboard import display, markdown, vocabulary
from dashboard.layout import page_layout
from dashboard.permissions import can, role_label


def _person_zone() -> str | None:
    principal = g.get("principal")
    return getattr(principal, "time_zone", None)


def init_app(app) -> None:
    # Templates compile once per installation, not once per worker start (the source's
    # checksum invalidates a stale entry; files are written atomically).
    cache = Path(app.config["INSTANCE_PATH"]) / "jinja-bytecode"
    cache.mkdir(parents=True, exist_ok=True)
    app.jinja_env.bytecode_cache = FileSystemBytecodeCache(str(cache))

    # Times in the signed-in person's zone, dates and numbers by babel (dashboard/display.py);
    # readable names for audit actions and permissions (dashboard/vocabulary.py).
    app.add_template_filter(
        lambda value, empty="—": display.when_html(value, _person_zone(), empty=empty), "when"
    )
    # The same with the zone given: for loops that show many times (the members list reads
    # the viewer's zone once, not once per time), with no wrapper call of its own.
    app.add_template_filter(display.when_html, "when_in")
    app.add_template_filter(lambda value: display.day_html(value, _person_zone()), "day")
    app.add_template_filter(display.number, "number")
    app.add_template_filter(vocabulary.action_label, "action_label")
    app.add_template_filter(vocabulary.permission_label, "permission_label")
    app.add_template_filter(vocabulary.permission_help, "permission_help")
    app.add_template_filter(markdown.block, "markdown")  # the API reference's descriptions
    app.add_template_filter(markdown.inline, "markdown_inline")

    # base.html's chrome (navigation, switcher, user menu) is built by dashboard/layout.py,
    # once per page: the navigation and the current path are no longer worked out for
    # every template rendered (fragments included).
    app.jinja_env.globals["page_layout"] = page_layout
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["role_label"] = role_label

    @app.context_processor
    def _globals():
        return {
            "principal": g.get("principal"),
            "membership": g.get("membership"),
            "support": g.get("support"),
        }
