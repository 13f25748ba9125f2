"""Markdown in the API reference (descriptions from docstrings and pydantic fields), rendered
by markdown-it-py (CommonMark, raw HTML off) and then cleaned by nh3 (an allow-list), so a
description can never inject markup. Descriptions are constants: each is rendered once."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {"p", "code", "pre", "em", "strong", "a", "ul", "ol", "li", "blockquote", "br",
         "table", "thead", "tbody", "tr", "th", "td", "h3", "h4"}
_ATTRIBUTES = {"a": {"href", "title"}}


def _clean(html: str) -> Markup:
    cleaned = nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES,
                        url_schemes={"http", "https", "mailto"}, link_rel="noopener")
    return Markup(cleaned)  # noqa: S704 - nh3's allow-list output is safe HTML by construction


@lru_cache(maxsize=2048)
def block(text: str | None) -> Markup:
    """Paragraphs, lists and code blocks."""
    return _clean(_md.render(text or ""))


@lru_cache(maxsize=4096)
def inline(text: str | None) -> Markup:
    """One line (a table cell): `code`, *emphasis*, links; no paragraph around it."""
    return _clean(_md.renderInline(text or ""))
