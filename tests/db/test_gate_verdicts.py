"""The gate gives the very verdict of its previous definition (0034, one SQL statement) for
every combination of org, user, credential and provider settings: members active or not,
suspended orgs, staff with and without a live grant or the org's consent, API keys, SCIM
tokens and system credentials live, revoked, expired or of another org, providers, nothing
set, and values that are not UUIDs."""

from __future__ import annotations

import importlib.util
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from tests import factories

MIGRATION = (Path(__file__).resolve().parents[2] / "migrations" / "versions"
             / "0038_gate_dispatch.py")


def previous_gate_sql(name: str) -> str:
    spec = importlib.util.spec_from_file_location("gate_dispatch", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PREVIOUS.replace("FUNCTION app_current_org()", f"FUNCTION {name}()")


def _org(status="active", staff_access_allowed=True):
    org = factories.OrgFactory()
    factories.execute(
        "UPDATE organizations SET status = :s, staff_access_allowed = :a WHERE id = :o",
        s=status, a=staff_access_allowed, o=org.id)
    return str(org.id)


def _user(*member_of, active=True, staff=False):
    user = factories.UserFactory()
    factories.execute("UPDATE users SET is_active = :a, is_staff = :s WHERE id = :u",
                      a=active, s=staff, u=user.id)
    for org in member_of:
        factories.execute("INSERT INTO memberships (org_id, user_id, role)"
                          " VALUES (:o, :u, 'member')", o=org, u=user.id)
    return str(user.id)


def _grant(org, user, state="live"):
    now = datetime.now(UTC)
    created, expires = {
        "live": (now, now + timedelta(minutes=30)),
        "expired": (now - timedelta(hours=2), now - timedelta(hours=1)),
        "revoked": (now, now + timedelta(minutes=30)),
    }[state]
    factories.execute(
        "INSERT INTO support_grants (org_id, staff_user_id, reason, created_at, expires_at,"
        " revoked_at) VALUES (:o, :u, 'a support case, verdict test', :c, :e,"
        " CASE WHEN :revoked THEN now() END)",
        o=org, u=user, c=created, e=expires, revoked=state == "revoked")


def _credential(org, kind, state="live"):
    now = datetime.now(UTC)
    expires = {"live": now + timedelta(hours=1), "no-expiry": None,
               "expired": now - timedelta(seconds=1), "revoked": now + timedelta(hours=1)}[state]
    return str(factories.execute(
        "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash, expires_at,"
        " revoked_at) VALUES (:o, :k, 'verdict test', :p, '\\x00', :e,"
        " CASE WHEN :revoked THEN now() END) RETURNING id",
        o=org, k=kind, p=uuid.uuid4().hex[:12], e=expires, revoked=state == "revoked",
    ).scalar_one())


def _provider(*orgs):
    provider = str(factories.execute(
        "INSERT INTO providers (name, key_prefix, key_hash) VALUES ('verdict test', :p, '\\x00')"
        " RETURNING id", p=uuid.uuid4().hex[:12]).scalar_one())
    for org in orgs:
        factories.execute(
            "INSERT INTO provider_orgs (provider_id, external_id, org_id, request_hash)"
            " VALUES (:p, :x, :o, 'h')", p=provider, x=uuid.uuid4().hex, o=org)
    return provider


@pytest.fixture
def world():
    active, suspended = _org(), _org(status="suspended")
    closed = _org(staff_access_allowed=False)  # active, no staff access
    orgs = {"active": active, "suspended": suspended, "closed": closed}
    users = {
        "member": _user(active, suspended, closed),
        "inactive member": _user(active, closed, active=False),
        "outsider": _user(),
        "staff member": _user(active, staff=True),
    }
    for label, state, staff, is_active in [
        ("staff live", "live", True, True), ("staff expired", "expired", True, True),
        ("staff revoked", "revoked", True, True), ("not staff, live grant", "live", False, True),
        ("inactive staff", "live", True, False),
    ]:
        users[label] = _user(active=is_active, staff=staff)
        for org in orgs.values():
            _grant(org, users[label], state)
    credentials = {
        f"{kind} {state} @{where}": _credential(org, kind, state)
        for where, org in (("active", active), ("suspended", suspended))
        for kind in ("api_key", "scim", "system")
        for state in ("live", "no-expiry", "expired", "revoked")
    }
    providers = {"provider of active": _provider(active),
                 "provider of suspended": _provider(suspended), "provider of none": _provider()}
    garbage = {"empty": "", "not a uuid": "not-a-uuid", "injection": "' OR 1=1 --",
               "unknown uuid": str(uuid.uuid4()), "zero uuid": str(uuid.UUID(int=0))}
    return {
        "org": {**orgs, "active, upper case": active.upper(), **garbage},
        "user": {**users, **garbage},
        "credential": {**credentials, **garbage},
        "provider": {**providers, **garbage},
    }


COMPARE = """
CREATE FUNCTION test_gate_verdicts(orgs text[], users text[], creds text[], providers text[])
RETURNS TABLE (org text, usr text, cred text, provider text, gate uuid, previous uuid)
LANGUAGE plpgsql AS $$
BEGIN
  FOREACH org IN ARRAY orgs LOOP
   FOREACH usr IN ARRAY users LOOP
    FOREACH cred IN ARRAY creds LOOP
     FOREACH provider IN ARRAY providers LOOP
      PERFORM set_config('app.org_id', org, true), set_config('app.user_id', usr, true),
              set_config('app.credential_id', cred, true),
              set_config('app.provider_id', provider, true);
      SELECT app_current_org(), test_gate_0034() INTO gate, previous;
      RETURN NEXT;
     END LOOP;
    END LOOP;
   END LOOP;
  END LOOP;
END
$$
"""


def verdicts(admin_engine, world) -> list:
    """Every combination's verdict by the gate and by 0034's, as the runtime role; the
    reference functions exist only inside this (rolled back) transaction."""
    with admin_engine.connect() as conn:
        try:
            conn.execute(text(previous_gate_sql("test_gate_0034")))
            conn.execute(text(f"ALTER FUNCTION test_gate_0034() OWNER TO {DEFINER_ROLE}"))
            conn.execute(text(COMPARE))
            conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            return conn.execute(
                text("SELECT * FROM test_gate_verdicts(:o, :u, :c, :p)"),
                {"o": list(world["org"].values()), "u": list(world["user"].values()),
                 "c": list(world["credential"].values()),
                 "p": list(world["provider"].values())},
            ).all()
        finally:
            conn.rollback()


def test_the_gate_is_the_previous_gate_for_every_combination(admin_engine, world):
    label = {kind: {value: name for name, value in values.items()}
             for kind, values in world.items()}
    rows = verdicts(admin_engine, world)
    assert len(rows) == len(world["org"]) * len(world["user"]) * len(world["credential"]) \
        * len(world["provider"])
    differ = [(label["org"][r.org], label["user"][r.usr], label["credential"][r.cred],
               label["provider"][r.provider], r.gate, r.previous)
              for r in rows if r.gate != r.previous]
    assert differ == []
    # The table is not trivially all-NULL: each kind of principal opens something.
    opened = Counter()
    for r in rows:
        if r.gate is not None:
            assert str(r.gate) == r.org.lower()
            opened[label["user"][r.usr], label["org"][r.org]] += 1
            opened[label["credential"][r.cred]] += 1
            opened[label["provider"][r.provider], label["org"][r.org]] += 1
    for key in [("member", "active"), ("staff live", "active"), ("staff member", "active"),
                "api_key live @active", "scim no-expiry @active", "system live @suspended",
                ("provider of suspended", "suspended")]:
        assert opened[key], key


def test_nothing_set_opens_nothing(admin_engine):
    """No setting (absent, or reset to empty after an earlier transaction) opens nothing."""
    with admin_engine.connect() as conn:
        conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        assert conn.execute(text("SELECT current_setting('app.org_id', true),"
                                 " app_current_org()")).one() in [(None, None), ("", None)]
        conn.rollback()


def test_the_gate_stays_a_stable_parallel_safe_definer_function(admin_engine):
    with admin_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT l.lanname, p.provolatile, p.proparallel, p.prosecdef,"
            " pg_get_userbyid(p.proowner), p.proconfig"
            " FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
            " WHERE p.oid = 'public.app_current_org()'::regprocedure")).one()
    assert row == ("plpgsql", "s", "s", True, DEFINER_ROLE, ["search_path=pg_catalog, public"])
