"""Organization metadata through the partner API: stored verbatim, replaced by PATCH,
filterable with ?metadata[key]=value, never across providers, bad input refused with
nothing changed."""

from __future__ import annotations

import uuid

import pytest

from tests import factories
from tests.security.test_partner_api import body, other_provider, provider, provision  # noqa: F401

VERBATIM = "Zürich · ACME-0042 / <b>&amp;</b> ' \" ✓"


def _metadata_rows(org_id) -> dict:
    rows = factories.execute("SELECT key, value FROM org_metadata WHERE org_id = :o", o=org_id)
    return {r.key: r.value for r in rows}


def test_metadata_is_stored_verbatim_replaced_and_filtered(client, provider):  # noqa: F811
    _, headers = provider
    made = provision(client, headers, f"ext-{uuid.uuid4().hex[:8]}",
                     body(metadata={"crm_id": "42", "label": VERBATIM}))
    assert made.status_code == 201, made.get_json()
    org = made.get_json()["org"]
    assert org["metadata"] == {"crm_id": "42", "label": VERBATIM}
    assert _metadata_rows(org["id"]) == {"crm_id": "42", "label": VERBATIM}
    other = provision(client, headers, f"ext-{uuid.uuid4().hex[:8]}",
                      body(metadata={"crm_id": "43"})).get_json()["org"]

    found = client.get("/partner/v1/orgs", query_string={"metadata[crm_id]": "42"},
                       headers=headers).get_json()["data"]
    assert [o["id"] for o in found] == [org["id"]]
    assert client.get("/partner/v1/orgs", query_string={"metadata[crm_id]": "4"},
                      headers=headers).get_json()["data"] == []

    patched = client.patch(f"/partner/v1/orgs/{org['id']}", json={"metadata": {"tier": "gold"}},
                           headers=headers)
    assert patched.status_code == 200 and patched.get_json()["org"]["metadata"] == \
        {"tier": "gold"}
    assert _metadata_rows(org["id"]) == {"tier": "gold"}
    assert _metadata_rows(other["id"]) == {"crm_id": "43"}


def test_a_shared_value_never_crosses_providers(client, provider, other_provider):  # noqa: F811
    _, mine = provider
    _, theirs = other_provider
    a = provision(client, mine, f"ext-{uuid.uuid4().hex[:8]}",
                  body(metadata={"tenant": "shared-7"})).get_json()["org"]
    b = provision(client, theirs, f"ext-{uuid.uuid4().hex[:8]}",
                  body(metadata={"tenant": "shared-7"})).get_json()["org"]
    for headers, expected in ((mine, a["id"]), (theirs, b["id"])):
        found = client.get("/partner/v1/orgs", query_string={"metadata[tenant]": "shared-7"},
                           headers=headers).get_json()["data"]
        assert [o["id"] for o in found] == [expected]
    # Nor can one provider write the other's.
    refused = client.patch(f"/partner/v1/orgs/{b['id']}", json={"metadata": {"x": "y"}},
                           headers=mine)
    assert refused.status_code == 404 and _metadata_rows(b["id"]) == {"tenant": "shared-7"}


@pytest.mark.parametrize("metadata", [
    {f"k{n}": "v" for n in range(21)},
    {"crm_id": "x" * 501},
    {"bad key!": "v"},
    {"crm_id": 42},
    {"crm_id": "line\nbreak"},
    {"": "v"},
])
def test_bad_metadata_is_refused_and_changes_nothing(client, provider, metadata):  # noqa: F811
    _, headers = provider
    made = provision(client, headers, f"ext-{uuid.uuid4().hex[:8]}",
                     body(metadata={"crm_id": "1"})).get_json()["org"]
    response = client.patch(f"/partner/v1/orgs/{made['id']}", json={"metadata": metadata},
                            headers=headers)
    assert response.status_code in (400, 422), response.get_json()
    assert "error" in response.get_json()
    assert _metadata_rows(made["id"]) == {"crm_id": "1"}


def test_a_malformed_filter_is_a_400(client, provider):  # noqa: F811
    _, headers = provider
    response = client.get("/partner/v1/orgs?metadata[a]=1&metadata[b]=2", headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_filter"
