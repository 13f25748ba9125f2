"""An API key is a principal of the RLS gate: it opens its own org only, and a revoked or
expired key, or a suspended org, reads zero rows on the very next query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from dashboard import tenancy
from dashboard.apikeys import service as keys
from tests import factories
from tests.security.test_schema_guard import tenant_tables


@pytest.fixture
def org_and_key():
    org, people = factories.org_with_members(owner="owner", bob="member")
    other, _ = factories.org_with_members(owner="owner")
    factories.api_key(other, ["members:read"])
    plaintext, key_id = factories.api_key(org, ["members:read"])
    return org, other, plaintext, key_id


def as_key(runtime_sessions, org_id, key_id):
    return tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(credential_id=key_id, org_id=org_id)
    )


def members(session) -> int:
    return session.scalar(text("SELECT count(*) FROM memberships"))


def test_a_key_reads_its_own_org_and_nothing_of_another(org_and_key, runtime_sessions,
                                                        admin_engine):
    org, other, _, key_id = org_and_key
    with as_key(runtime_sessions, org.id, key_id) as session:
        assert members(session) == 2
        for table in tenant_tables(admin_engine):
            column = "id" if table == "organizations" else "org_id"
            foreign = session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE {column} <> :o"), {"o": org.id}
            )
            assert foreign == 0, table
    # The key's id with the other org's id opens nothing at all.
    with as_key(runtime_sessions, other.id, key_id) as session:
        assert members(session) == 0
        assert session.scalar(text("SELECT app_current_org()")) is None


@pytest.mark.parametrize(
    "cut",
    [
        "UPDATE org_credentials SET revoked_at = now() WHERE id = :key",
        "UPDATE org_credentials SET expires_at = now() - interval '1 second' WHERE id = :key",
        "UPDATE organizations SET status = 'suspended' WHERE id = :org",
    ],
    ids=["revoked", "expired", "org-suspended"],
)
def test_the_very_next_query_after_a_cut_reads_zero_rows(org_and_key, runtime_sessions, cut):
    org, _, _, key_id = org_and_key
    with as_key(runtime_sessions, org.id, key_id) as session:
        assert members(session) == 2
        factories.execute(cut, key=key_id, org=org.id)  # another connection, committed
        # Same transaction, next statement: the gate is re-evaluated per query.
        assert members(session) == 0
        assert session.scalar(text("SELECT count(*) FROM org_credentials")) == 0


def test_look_up_returns_only_the_narrow_columns_for_one_prefix(org_and_key, runtime_sessions):
    org, _, plaintext, key_id = org_and_key
    prefix = plaintext.split("_")[2]
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        result = session.execute(
            text("SELECT * FROM app_api_key_lookup(:p)"), {"p": prefix}
        )
        assert list(result.keys()) == ["credential_id", "org_id", "secret_hash", "scopes", "state"]
        rows = result.all()
        assert [(r.credential_id, r.org_id, r.state) for r in rows] == [(key_id, org.id, "live")]
        # Without a context the runtime role itself sees no credential at all.
        assert session.scalar(text("SELECT count(*) FROM org_credentials")) == 0
        for pattern in ["%", "", prefix[:4] + "%", f"{prefix}' OR '1'='1"]:
            assert session.execute(
                text("SELECT * FROM app_api_key_lookup(:p)"), {"p": pattern}
            ).all() == []


def test_authenticate_reports_states_only_after_the_secret_matches(org_and_key,
                                                                   runtime_sessions):
    org, _, plaintext, key_id = org_and_key
    hmac_key = factories._state["api_key_hmac"]
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        identity = keys.authenticate(session, plaintext, hmac_key)
        assert identity.org_id == org.id and identity.credential_id == key_id
        assert identity.scopes == {"members:read", "org:read"}
    factories.execute("UPDATE org_credentials SET revoked_at = now() WHERE id = :k", k=key_id)
    with tenancy.scoped_session(runtime_sessions, tenancy.NOBODY) as session:
        with pytest.raises(keys.KeyRefused) as refused:
            keys.authenticate(session, plaintext, hmac_key)
        assert refused.value.code == "api_key_revoked"
        wrong_secret = plaintext[:-3] + ("AAA" if not plaintext.endswith("AAA") else "BBB")
        with pytest.raises(keys.KeyRefused) as refused:
            keys.authenticate(session, wrong_secret, hmac_key)
        assert refused.value.code == "invalid_api_key"  # no hint that the prefix exists


def test_touch_is_throttled_in_sql_and_in_process(org_and_key, runtime_sessions):
    org, _, _, key_id = org_and_key
    every = timedelta(minutes=1)
    with as_key(runtime_sessions, org.id, key_id) as session:
        keys.touch(session, key_id, every)
    first = factories.execute(
        "SELECT last_used_at FROM org_credentials WHERE id = :k", k=key_id
    ).scalar_one()
    assert first is not None and first > datetime.now(UTC) - timedelta(minutes=1)
    with as_key(runtime_sessions, org.id, key_id) as session:
        keys.touch(session, key_id, every)  # within the minute: no change
    again = factories.execute(
        "SELECT last_used_at FROM org_credentials WHERE id = :k", k=key_id
    ).scalar_one()
    assert again == first
    throttle = keys.TouchThrottle(every)
    assert throttle.due(key_id) and not throttle.due(key_id)


def test_runtime_role_cannot_rewrite_a_key_secret_scopes_or_org(org_and_key, runtime_sessions):
    from sqlalchemy.exc import ProgrammingError

    org, other, _, key_id = org_and_key
    for column, value in [("secret_hash", "'\\x00'::bytea"), ("scopes", "'{audit:read}'"),
                          ("org_id", f"'{other.id}'::uuid")]:
        with (
            pytest.raises(ProgrammingError, match="permission denied"),
            as_key(runtime_sessions, org.id, key_id) as session,
        ):
            session.execute(text(f"UPDATE org_credentials SET {column} = {value}"))
