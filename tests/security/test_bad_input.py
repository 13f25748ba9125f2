"""Bad input answers a clear 4xx and changes nothing (issue 24, finding 4).

Each case here answered 500 before dashboard/inputguard.py: a NUL byte in the members search
and role filter, the audit CSV filters, a role name and an org name; a page number beyond
bigint; JSON nested 5,000 levels deep on the browser's usage ingestion and on partner
provisioning. The property-based sweep over every route is tests/security/test_fuzz_routes.py.
"""

from __future__ import annotations

import json
import uuid

import pytest

from dashboard import inputguard
from tests import factories
from tests.helpers import csrf_token, login
from tests.security.prober import RowDump

NESTED = ('{"a":' * 5000 + "1" + "}" * 5000).encode()


@pytest.fixture(scope="module")
def owned(app):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.put_on_plan(org, "enterprise")
    return org, people


@pytest.fixture
def owner(app, owned):
    org, people = owned
    client = app.test_client()
    login(client, people["owner"])
    client.csrf = csrf_token(client, "/switcher")
    return client


@pytest.fixture
def rows(admin_engine, owned):
    """Every row of the org, as the superuser sees it, before and after the test."""
    dump = RowDump(admin_engine, owned[0].id)
    before = dump.take()
    yield before
    after = [row for row in dump.take() if row[0] not in ("user_sessions",)]
    assert [row for row in before if row[0] != "user_sessions"] == after, RowDump.diff(
        before, after)


def refused_html(response, *needles: str) -> str:
    assert response.status_code == 400, response.status_code
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Traceback" not in page
    for needle in needles:
        assert needle in page, page
    return page


def refused_json(response, *needles: str) -> dict:
    assert response.status_code == 400, (response.status_code, response.get_data()[:300])
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    for needle in needles:
        assert needle in error["message"], error
    return error


@pytest.mark.parametrize("query", [
    "q=ali%00ce", "role=%00", "q=%01", "role=admin%7f", "q=x%C2%85",
])
def test_members_search_and_role_filter_refuse_control_characters(owner, owned, rows, query):
    org, _ = owned
    for path in (f"/o/{org.slug}/members?{query}", f"/o/{org.slug}/members?{query}&page=2"):
        refused_html(owner.get(path), "control character")
        refused_html(owner.get(path, headers={"HX-Request": "true"}), "control character")


@pytest.mark.parametrize("query", ["actor=%00", "action=x%00y", "from=2026-01-01%00"])
def test_audit_page_and_csv_filters_refuse_control_characters(owner, owned, rows, query):
    org, _ = owned
    refused_html(owner.get(f"/o/{org.slug}/audit?{query}"), "control character")
    refused_html(owner.get(f"/o/{org.slug}/audit.csv?{query}"), "control character")


def test_a_role_name_with_nul_is_refused_and_no_role_is_made(owner, owned, rows):
    org, _ = owned
    response = owner.post(f"/o/{org.slug}/roles", data={
        "csrf_token": owner.csrf, "name": "Aud\x00itor", "permissions": ["org.view"]})
    refused_html(response, "&#39;name&#39; contains a control character (U+0000)")


def test_an_org_name_with_nul_is_refused_and_no_org_is_made(owner, owned):
    slug = f"nul-{uuid.uuid4().hex[:8]}"
    response = owner.post("/orgs/new", data={
        "csrf_token": owner.csrf, "name": "Evil\x00 Corp", "slug": slug})
    refused_html(response, "control character")
    assert factories.execute(
        "SELECT count(*) FROM organizations WHERE slug = :s", s=slug).scalar() == 0


def test_tab_and_newline_stay_allowed_in_text_fields(owner, owned):
    org, _ = owned
    response = owner.post(f"/o/{org.slug}/roles", data={
        "csrf_token": owner.csrf, "name": "Tab\tRole", "permissions": ["org.view"]})
    assert response.status_code < 500
    assert "control character" not in response.get_data(as_text=True)
    response = owner.post(f"/o/{org.slug}/invitations", data={
        "csrf_token": owner.csrf, "emails": "", "role": "member", "message": "Hi,\r\n\tcome"})
    assert response.status_code < 500
    assert "control character" not in response.get_data(as_text=True)


@pytest.mark.parametrize("page", [
    "99999999999999999999999", "-99999999999999999999", "1000000001", "9" * 5000,
], ids=["bigint", "negative", "over-bound", "5000-digits"])
def test_a_page_number_out_of_range_is_refused(owner, owned, rows, page):
    org, _ = owned
    refused_html(owner.get(f"/o/{org.slug}/members?page={page}"), "page")
    refused_html(owner.get(f"/o/{org.slug}/members?per_page={page}"), "per_page")


def test_the_members_page_still_tolerates_a_page_that_is_no_number(owner, owned):
    org, _ = owned
    assert owner.get(f"/o/{org.slug}/members?page=abc").status_code == 200
    assert owner.get(f"/o/{org.slug}/members?page=-4").status_code == 200
    assert owner.get(f"/o/{org.slug}/members?page=1000000000").status_code == 200


def _usage(owner, raw: bytes):
    return owner.post("/api/v1/usage/events", data=raw, content_type="application/json",
                      headers={"X-CSRFToken": owner.csrf})


def test_deeply_nested_json_on_browser_usage_ingestion_is_refused(owner, owned, rows):
    error = refused_json(_usage(owner, NESTED), "nested 5000 levels")
    assert str(inputguard.MAX_JSON_DEPTH) in error["message"]
    deep_list = ("[" * 5000 + "]" * 5000).encode()
    refused_json(_usage(owner, b'{"events": ' + deep_list + b"}"), "nested")


@pytest.mark.parametrize("raw", [
    b'{"events": [{"metric": "api_calls", "quantity": NaN, "timestamp": "x"}]}',
    b'{"events": [{"metric": "api_calls", "quantity": 1e400, "timestamp": "x"}]}',
    b'{"events": [{"metric": "api_calls", "quantity": 99999999999999999999999}]}',
    b'{"events": [{"metric": "api\\u0000calls", "quantity": 1}]}',
    b'{"events": [{"metric": "api_calls", "idempotency_key": "\\ud800"}]}',
    b'{"ev\\u0000ents": []}',
])
def test_json_with_nul_huge_or_non_finite_numbers_is_refused(owner, owned, rows, raw):
    refused_json(_usage(owner, raw))


def test_brackets_inside_json_strings_do_not_count_as_nesting(owner, owned):
    key = "[{" * 100
    body = {"events": [{"metric": "api_calls", "quantity": 1, "idempotency_key": key,
                        "timestamp": "2020-01-01T00:00:00Z"}]}
    response = _usage(owner, json.dumps(body).encode())
    assert response.status_code != 500
    assert response.get_json()["error"]["code"] != "invalid_input"  # refused for the date


@pytest.fixture
def partner(app, admin_sessions):
    from dashboard.partner.credentials import create_provider

    with admin_sessions() as session, session.begin():
        _, secret = create_provider(session, app.config["SECRET_KEY"], "Guard test provider")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("raw", [
    NESTED,
    b'{"name": "Evil\\u0000Co", "slug": "evil-co-nul", "owner_email": "o@example.com"}',
    b'{"name": "Co", "slug": "co-nan", "owner_email": "o@example.com", "seats": NaN}',
])
def test_partner_provisioning_refuses_bad_json_and_creates_nothing(client, partner, raw):
    external_id = f"ext-{uuid.uuid4().hex[:8]}"
    response = client.post(f"/partner/v1/orgs/{external_id}/provision", data=raw,
                           content_type="application/json", headers=partner)
    refused_json(response)
    assert factories.execute(
        "SELECT count(*) FROM provider_orgs WHERE external_id = :e", e=external_id
    ).scalar() == 0


def test_a_control_character_in_the_path_is_an_unknown_address(owner, owned):
    org, _ = owned
    for path in (f"/o/{org.slug}/roles/x%00y", "/o/%00/", f"/o/{org.slug}%01/members"):
        response = owner.get(path)
        assert response.status_code == 404 and "control character" in response.get_data(
            as_text=True)
    assert owner.get("/api/v1/members/%00").get_json()["error"]["code"] == "not_found"
    refused_json(owner.get(f"/o/{org.slug}/usage/data.json?metric=%00"))


def test_the_guard_refuses_before_sign_in_too(client):
    refused_html(client.get("/login?next=%00"), "control character")
    refused_html(client.post("/login", data={"email": "a\x00@example.com", "password": "x"}),
                 "control character")


def test_json_depth_counts_only_structure():
    assert inputguard.json_depth(b'{"a": [1, {"b": "]]]]{{{{"}]}') == 3
    assert inputguard.json_depth(b'"\\"[[["') == 0
    assert inputguard.json_depth(NESTED) == 5000
