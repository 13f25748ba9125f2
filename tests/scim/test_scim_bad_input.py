"""Bad input gets a SCIM error with the right status, and changes nothing."""

from __future__ import annotations

import json

import pytest

from tests import factories
from tests.scim.conftest import (
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    ScimClient,
    org_state,
    scim_org,
)

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def seeded(scim):
    client, org, people, domain = scim
    users = [client.create_user(f"bad{i}@{domain}")["id"] for i in range(2)]
    group = client.create_group("Seeded", users)
    return client, org, domain, users, group["id"]


def _is_error(response, status, scim_type=None):
    body = response.get_json()
    assert response.status_code == status, response.get_data(as_text=True)
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type:
        assert body.get("scimType") == scim_type, body
    assert "Traceback" not in response.get_data(as_text=True)


def test_bad_requests_are_scim_errors_and_change_nothing(seeded):
    client, org, domain, users, group = seeded
    before = org_state(org.id)
    many = [{"value": users[0]}] * 10_000
    cases = [
        (client.call("POST", "/Users", raw=b'{"schemas": [ "broken'), 400, "invalidSyntax"),
        (client.call("PATCH", f"/Users/{users[0]}", raw=b"[1, 2"), 400, "invalidSyntax"),
        (client.post("/Users", {"schemas": ["urn:example:unknown"], "userName": f"x@{domain}"}),
         400, None),
        (client.post("/Users", {"schemas": [USER_SCHEMA, "urn:example:extension:1.0"],
                                "userName": f"x@{domain}"}), 400, None),
        (client.post("/Users", {"schemas": [USER_SCHEMA], "userName": f"x@{domain}",
                                "favouriteColour": "red"}), 400, None),
        (client.get('/Users?filter=userName eq'), 400, "invalidFilter"),
        (client.get('/Users?filter=userName xx "a"'), 400, "invalidFilter"),
        (client.get('/Users?filter=(userName eq "a"'), 400, "invalidFilter"),
        (client.post("/Users", {"schemas": [USER_SCHEMA], "userName": f"BAD0@{domain}",
                                "emails": [{"value": f"other@{domain}"}]}), 409, "uniqueness"),
        (client.patch(f"/Groups/{group}", {"op": "add", "path": "members", "value": many}),
         413, None),
        (client.put(f"/Groups/{group}", {"schemas": [GROUP_SCHEMA], "displayName": "x",
                                         "members": many}), 413, None),
        (client.patch(f"/Groups/{group}", {"op": "add", "path": "members",
                                           "value": [{"value": "not-a-user"}]}),
         400, "invalidValue"),
        (client.patch(f"/Groups/{group}", {"op": "add", "path": "members",
                                           "value": [{"value": str(factories.uuid.uuid4())}]}),
         400, "invalidValue"),
        (client.patch(f"/Users/{users[0]}", {"op": "explode", "path": "active", "value": False}),
         400, None),
        (client.call("PATCH", f"/Users/{users[0]}",
                     {"schemas": [PATCH_SCHEMA], "Operations": "nope"}), 400, None),
    ]
    for response, status, scim_type in cases:
        _is_error(response, status, scim_type)
    for path in (f"/Users/{factories.uuid.uuid4()}", "/Users/not-a-uuid",
                 f"/Groups/{factories.uuid.uuid4()}", "/Groups/1"):
        _is_error(client.get(path), 404)
        _is_error(client.delete(path), 404)
        _is_error(client.patch(path, {"op": "replace", "path": "displayName", "value": "x"}), 404)
    _is_error(client.put(f"/Users/{factories.uuid.uuid4()}", {
        "schemas": [USER_SCHEMA], "userName": f"ghost@{domain}"}), 404)
    _is_error(client.get("/Nothing"), 404)
    assert org_state(org.id) == before


def test_credentials_are_checked(client):
    org, people, domain, token, credential_id = scim_org()
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": f"a@{domain}"})
    for headers in ({}, {"Authorization": "Bearer nope"},
                    {"Authorization": "Bearer td_scim_aaaaaaaaaaaa_" + "A" * 43},
                    {"Authorization": token.replace("td_scim_", "Bearer td_live_")}):
        response = client.post("/scim/v2/Users", data=body, headers=headers)
        _is_error(response, 401)
    factories.execute("UPDATE org_credentials SET revoked_at = now() WHERE id = :i",
                      i=credential_id)
    _is_error(ScimClient(client, token).get("/Users"), 401)

    free, _, _, free_token, _ = scim_org(plan="starter")
    _is_error(ScimClient(client, free_token).get("/Users"), 403)
    assert client.get("/scim/v2/ServiceProviderConfig").status_code == 200
