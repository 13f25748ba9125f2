"""Each SCIM token has its own request budget (SCIM_RATE_LIMIT): the next request past it
is a SCIM 429 with Retry-After, and another token of the same org is counted apart."""

from __future__ import annotations

from tests import factories
from tests.scim.conftest import ScimClient, scim_org


def test_a_token_past_its_budget_gets_a_scim_429(app):
    org, _, _, token, _ = scim_org()
    other_token, _ = factories.scim_token(org, name="second IdP")
    previous = app.config["SCIM_RATE_LIMIT"]
    app.config["SCIM_RATE_LIMIT"] = "3/minute"
    try:
        client = ScimClient(app.test_client(), token)
        assert [client.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
        refused = client.get("/Users")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "60"
        assert refused.get_json()["status"] == "429"
        assert ScimClient(app.test_client(), other_token).get("/Users").status_code == 200
        logged = [r.status for r in factories.execute(
            "SELECT status FROM scim_requests WHERE org_id = :o ORDER BY at", o=org.id)]
        assert logged == [200, 200, 200, 429, 200]  # the refusal shows on the SCIM page
    finally:
        app.config["SCIM_RATE_LIMIT"] = previous
