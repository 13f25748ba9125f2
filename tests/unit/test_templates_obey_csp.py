"""No template holds what the CSP (script-src 'self'; style-src 'self') would block, including
pages no browser test opens: inline <script>, <style> blocks, style="" or on*="" attributes,
javascript: URLs. Their place is static/js/app.js and static/css/."""

from __future__ import annotations

import re

from dashboard.config import PROJECT_ROOT

FORBIDDEN = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "<style> block": re.compile(r"<style[\s>]", re.I),
    "style attribute": re.compile(r"""\sstyle\s*=\s*["'{]""", re.I),
    "event-handler attribute": re.compile(r"""\s(on[a-z]+|hx-on[:\w-]*)\s*=\s*["']""", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_templates_hold_nothing_the_csp_blocks():
    offenders = []
    for template in sorted((PROJECT_ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        for what, pattern in FORBIDDEN.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{template.relative_to(PROJECT_ROOT)}:{line}: {what}")
    assert offenders == []


def test_the_checks_would_catch_each_case():
    samples = ['<script>alert(1)</script>', '<style>p{}</style>', '<p style="x">',
               '<a onclick="x()">', '<div hx-on:click="x">', '<a href="javascript:x">']
    for sample in samples:
        assert any(p.search(sample) for p in FORBIDDEN.values()), sample
    assert not any(p.search('<script src="/static/js/app.js" defer></script>')
                   for p in FORBIDDEN.values())
