"""The published OpenAPI 3.1 document and its docs page."""

from __future__ import annotations

import re

from dashboard.api.registry import OPERATIONS


def test_spec_is_openapi_3_1_and_lists_every_operation(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")
    listed = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    routed = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith("/api/") and getattr(view, "api_scope", None):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                path = rule.rule.replace("<uuid:", "{").replace("<", "{").replace(">", "}")
                routed.add((method, path))
    assert listed == routed
    assert len(OPERATIONS) == len(listed)
    for item in spec["paths"].values():
        for op in item.values():
            assert op["security"] == [{"bearer": []}]
            assert {"401", "403", "429"} <= set(op["responses"])
            assert op["x-required-scope"]


def test_spec_schemas_come_from_the_models(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error"]
    org = schemas["Org"]
    assert set(org["required"]) >= {"id", "slug", "name", "plan", "status", "member_count"}
    assert org["properties"]["id"]["format"] == "uuid"


def test_docs_page_is_server_rendered_without_external_assets(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "GET /api/v1/org" in html and "org:read" in html
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html
    assert "<script>" not in html


def test_docs_page_renders_markdown_and_nothing_raw(client):
    html = client.get("/api/v1/docs").get_data(as_text=True)
    assert "<code>" in html
    text_between_tags = re.sub(r"<[^>]+>", "", html.split('<article class="api-docs">')[1])
    assert "`" not in text_between_tags  # every backtick became <code>


def test_markdown_is_cleaned_of_anything_but_plain_formatting():
    from dashboard import markdown

    assert str(markdown.inline("use `org:read`")) == "use <code>org:read</code>"
    html = str(markdown.block("<script>alert(1)</script> [x](javascript:alert(1)) *ok*"))
    assert "<script" not in html and 'href="javascript' not in html and "<em>ok</em>" in html
    assert "&lt;script&gt;" in html  # shown as text, never run
    assert str(markdown.inline(None)) == ""
