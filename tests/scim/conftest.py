"""Helpers for driving /scim/v2/ with real tokens."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from tests import factories

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class ScimClient:
    """A Flask test client speaking SCIM with one org's token."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM}

    def call(self, method: str, path: str, body=None, raw: bytes | None = None):
        data = raw if raw is not None else (None if body is None else _json(body))
        return self.client.open(f"/scim/v2{path}", method=method, data=data,
                                headers=self.headers)

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body):
        return self.call("POST", path, body)

    def put(self, path, body):
        return self.call("PUT", path, body)

    def patch(self, path, *operations):
        return self.call("PATCH", path, {"schemas": [PATCH_SCHEMA], "Operations": list(operations)})

    def delete(self, path):
        return self.call("DELETE", path)

    def create_user(self, email: str, **extra):
        body = {"schemas": [USER_SCHEMA], "userName": email, "active": True,
                "emails": [{"type": "work", "value": email, "primary": True}],
                "name": {"givenName": "Test", "familyName": email.split("@")[0]}, **extra}
        response = self.post("/Users", body)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    def create_group(self, name: str, members=()):
        response = self.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name,
                                         "members": [{"value": m} for m in members]})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()


def _json(body) -> bytes:
    import json

    return json.dumps(body).encode()


def scim_org(plan: str = "enterprise", hmac_key=None, **roles):
    """An org on a plan with SCIM, a verified domain, and a SCIM token (for the session app,
    or for the app whose API key ``hmac_key`` is given)."""
    org, people = factories.org_with_members(**(roles or {"owner": "owner"}))
    factories.put_on_plan(org, plan)
    domain = f"corp-{secrets.token_hex(4)}.example"
    factories.SsoDomainFactory(org_id=org.id, domain=domain, verified_at=datetime.now(UTC))
    token, credential_id = factories.scim_token(org, created_by=people.get("owner"),
                                                hmac_key=hmac_key)
    return org, people, domain, token, credential_id


@pytest.fixture
def scim(client):
    """(ScimClient, org, people, domain)"""
    org, people, domain, token, _ = scim_org(owner="owner", admin="admin")
    return ScimClient(client, token), org, people, domain


def membership_role(org_id, user_id):
    row = factories.execute(
        "SELECT role FROM memberships WHERE org_id = :o AND user_id = :u", o=org_id, u=user_id
    ).one_or_none()
    return row.role if row else None


def person_id(email: str):
    return factories.execute(
        "SELECT id FROM users WHERE lower(email) = lower(:e)", e=email).scalar_one_or_none()


def org_state(org_id) -> dict:
    """Everything SCIM can change in an org, read as the superuser (through no RLS)."""
    state = {}
    for table, order in (("scim_users", "id"), ("scim_groups", "id"),
                         ("scim_group_members", "group_id, scim_user_id"),
                         ("memberships", "user_id"), ("invitations", "id")):
        state[table] = [tuple(r) for r in factories.execute(
            f"SELECT * FROM {table} WHERE org_id = :o ORDER BY {order}", o=org_id)]
    state["users"] = factories.execute("SELECT count(*) FROM users").scalar_one()
    return state


def live_hmac_key(live_server) -> bytes:
    from dashboard.apikeys import tokens

    config = live_server.app.config
    return tokens.server_key(config.get("API_KEY_HMAC_KEY"), config["SECRET_KEY"])
