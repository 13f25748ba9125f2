"""Member metadata edited on the member's page: the API's door in a form (same permission,
rules, audit). Bad input is 400 with the reason on the page and nothing stored; a member
without ``roles.edit`` is refused; another org's member is 404."""

from __future__ import annotations

import uuid

import pytest

from tests import factories
from tests.helpers import login, post


def stored(org, user) -> dict[str, str]:
    rows = factories.execute("SELECT key, value FROM member_metadata WHERE org_id = :o"
                             " AND user_id = :u", o=org.id, u=user.id)
    return {r.key: r.value for r in rows}


def audits(org):
    return factories.execute(
        "SELECT actor, target, details FROM audit_events WHERE org_id = :o"
        " AND action = 'member.update' ORDER BY at", o=org.id).all()


def form(*pairs: tuple[str, str]) -> dict[str, str]:
    data = {}
    for i, (key, value) in enumerate(pairs):
        data[f"key-{i}"], data[f"value-{i}"] = key, value
    return data


@pytest.fixture
def acme(client):
    org, people = factories.org_with_members(admin="admin", bob="member", carol="member")
    factories.execute("INSERT INTO member_metadata (org_id, user_id, key, value)"
                      " VALUES (:o, :u, 'crm_id', '7')", o=org.id, u=people["bob"].id)
    return org, people


def test_an_admin_edits_a_members_metadata_on_the_page(client, acme):
    org, people = acme
    bob = people["bob"]
    login(client, people["admin"])
    page = client.get(f"/o/{org.slug}/members/{bob.id}").get_data(as_text=True)
    assert "Edit metadata" in page and 'name="key-0" value="crm_id"' in page
    assert 'name="key-3"' in page  # three empty rows for new keys

    saved = post(client, f"/o/{org.slug}/members/{bob.id}/metadata",
                 form(("crm_id", "8"), ("", ""), ("team", "  Platform \u00e9 <b>")))
    assert saved.status_code == 303
    assert stored(org, bob) == {"crm_id": "8", "team": "  Platform \u00e9 <b>"}  # verbatim
    (audit,) = audits(org)
    assert audit.target == f"user:{bob.email}"
    assert audit.details["before"] == {"metadata": {"crm_id": "7"}}
    assert audit.details["after"] == {"metadata": {"crm_id": "8", "team": "  Platform \u00e9 <b>"}}
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Metadata saved." in page and "Platform \u00e9 &lt;b&gt;" in page

    # The same map again: nothing written, no audit row (as the API).
    post(client, f"/o/{org.slug}/members/{bob.id}/metadata",
         form(("team", "  Platform \u00e9 <b>"), ("crm_id", "8")))
    assert len(audits(org)) == 1
    # Clearing every row removes every pair.
    cleared = post(client, f"/o/{org.slug}/members/{bob.id}/metadata", form(("", "")))
    assert cleared.status_code == 303 and stored(org, bob) == {} and len(audits(org)) == 2


TOO_MANY = tuple((f"k{i}", "v") for i in range(21))


@pytest.mark.parametrize("pairs, says", [
    ((("bad key!", "x"),), "is not valid"),
    ((("crm_id", "x" * 501),), "longer than 500"),
    (TOO_MANY, "at most 20 keys"),
    ((("", "orphan"),), "has a value but no key"),
    ((("crm_id", "1"), ("crm_id", "2")), "appears twice"),
    ((("k" * 41, "x"),), "is not valid"),
])
def test_bad_input_is_400_on_the_page_and_changes_nothing(client, acme, pairs, says):
    org, people = acme
    bob = people["bob"]
    login(client, people["admin"])
    refused = post(client, f"/o/{org.slug}/members/{bob.id}/metadata", form(*pairs))
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert says in body and 'role="alert"' in body
    assert f'value="{pairs[0][1][:20]}' in body  # the rows come back as typed
    assert stored(org, bob) == {"crm_id": "7"} and audits(org) == []


def test_control_characters_and_crafted_rows_are_refused(client, acme):
    org, people = acme
    bob = people["bob"]
    login(client, people["admin"])
    for data in (form(("crm_id", "a\x01b")), {"key-64": "x", "value-64": "y"}):
        refused = post(client, f"/o/{org.slug}/members/{bob.id}/metadata", data)
        assert refused.status_code == 400
    assert stored(org, bob) == {"crm_id": "7"} and audits(org) == []


def test_a_member_without_roles_edit_is_refused_and_sees_no_form(client, acme):
    org, people = acme
    bob, carol = people["bob"], people["carol"]
    login(client, carol)
    page = client.get(f"/o/{org.slug}/members/{bob.id}").get_data(as_text=True)
    assert "crm_id" in page and "Edit metadata" not in page
    refused = post(client, f"/o/{org.slug}/members/{bob.id}/metadata", form(("crm_id", "9")))
    assert refused.status_code == 403
    assert stored(org, bob) == {"crm_id": "7"} and audits(org) == []


def test_another_orgs_member_is_404_and_untouched(client, acme):
    org, people = acme
    globex, globex_people = factories.org_with_members(owner="owner", dave="member")
    dave = globex_people["dave"]
    login(client, people["admin"])
    for path in (f"/o/{org.slug}/members/{dave.id}/metadata",
                 f"/o/{org.slug}/members/{uuid.uuid4()}/metadata"):
        assert post(client, path, form(("crm_id", "x"))).status_code == 404
    assert stored(globex, dave) == {} and stored(org, dave) == {}
    assert audits(org) == [] and audits(globex) == []
