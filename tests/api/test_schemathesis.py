"""Schemathesis against the published spec, authenticated with a real API key: no 5xx, no
response outside the documented statuses, content types, headers and schemas; invalid input
(negative examples) refused with a 4xx. Bounded to a few examples per operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer

EXAMPLES = 15  # per operation and mode: the whole test stays well under a minute


@pytest.fixture(scope="module")
def api_schema(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # 413 (body too large, e.g. more events than a batch may hold) is a refusal too.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


@pytest.fixture(scope="module")
def key_headers():
    # A generous limit: this test is about schemas; test_rate_limits is about limits.
    org, _ = api_org("enterprise", rate_limit_per_minute=100_000, owner="owner", bob="member")
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target) VALUES (:o, 'seed', 'x', 'y')",
        o=org.id,
    )
    plaintext, _ = factories.api_key(org, all_scopes())
    return bearer(plaintext)


# Where "valid per the schema" cannot mean "accepted", only that one check is skipped: a
# usage event's timestamp must lie near *now*, and a role must be one of *this org's* roles
# (custom roles differ per org), which one global JSON Schema cannot say. A webhook URL must
# be a usable http(s) URL on an allowed address, and an org holds at most 20 endpoints.
SEMANTIC_BODIES = {
    ("POST", "/api/v1/usage/events"),
    ("PATCH", "/api/v1/members/{user_id}"),
    ("POST", "/api/v1/invitations"),
    ("POST", "/api/v1/webhooks"),
    ("PATCH", "/api/v1/webhooks/{endpoint_id}"),
}


def unprovable(case) -> list:
    """Also a cursor: an opaque signed token, so any other string is rightly a 400."""
    from schemathesis.checks import positive_data_acceptance

    if (case.query or {}).get("cursor") is not None or (
        (case.method.upper(), case.path) in SEMANTIC_BODIES
    ):
        return [positive_data_acceptance]
    return []


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_the_spec_is_valid_and_has_operations(api_schema):
    assert len(operations(api_schema)) >= 4


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid-input", "invalid-input"])
def test_the_api_honours_its_published_spec(api_schema, key_headers, mode):
    failures = []
    for operation in operations(api_schema):

        # The key goes in as a fixed header, so negative examples never "remove" it and then
        # have it put back by the transport (a false "invalid data accepted").
        @given(case=operation.as_strategy(generation_mode=mode, headers=key_headers))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def exercise(case):
            case.call_and_validate(excluded_checks=unprovable(case))

        try:
            exercise()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, no body; the
            # credential is fixed): there is no negative example to send.
            assert mode == GenerationMode.NEGATIVE, operation.path
        except Exception as exc:  # collect every operation's first failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
