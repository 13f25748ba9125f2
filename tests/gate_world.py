"""The gate's world for verdict tests: every kind of principal and setting the gate tells
apart, and a table of verdicts over every combination of the settings, computed as the
runtime role inside a transaction that is rolled back (tests/db/test_gate_verdicts.py and
tests/db/test_gate_text_probe.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dashboard.provisioning import APP_ROLE
from tests import factories


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


def build_world() -> dict[str, dict[str, str]]:
    """Orgs, users, credentials and providers in every state the gate tells apart, plus
    values that are not UUIDs: each kind's values by label."""
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


# Every combination of the four settings, each set (transaction-local) in turn, with the
# verdict of each function compared: {columns} ("gate uuid, previous uuid"), {calls} and
# {names} (the functions' calls and the columns they fill).
VERDICT_TABLE = """
CREATE FUNCTION test_gate_verdict_table(orgs text[], users text[], creds text[],
                                        providers text[])
RETURNS TABLE (org text, usr text, cred text, provider text, {columns})
LANGUAGE plpgsql AS $$
BEGIN
  FOREACH org IN ARRAY orgs LOOP
   FOREACH usr IN ARRAY users LOOP
    FOREACH cred IN ARRAY creds LOOP
     FOREACH provider IN ARRAY providers LOOP
      PERFORM set_config('app.org_id', org, true), set_config('app.user_id', usr, true),
              set_config('app.credential_id', cred, true),
              set_config('app.provider_id', provider, true);
      SELECT {calls} INTO {names};
      RETURN NEXT;
     END LOOP;
    END LOOP;
   END LOOP;
  END LOOP;
END
$$
"""


def verdicts(admin_engine, references: list[str], calls: dict[str, str],
             orgs: list[str], users: list[str], creds: list[str], providers: list[str]) -> list:
    """Each combination of the settings with the verdict of each of ``calls`` (column ->
    a call returning uuid), as the runtime role. ``references`` (SQL run first as the
    superuser: the functions ``calls`` compares) and the verdict table exist only inside
    this transaction, which is rolled back."""
    table = VERDICT_TABLE.format(columns=", ".join(f"{name} uuid" for name in calls),
                                 calls=", ".join(calls.values()), names=", ".join(calls))
    with admin_engine.connect() as conn:
        try:
            for sql in references:
                conn.execute(text(sql))
            conn.execute(text(table))
            conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            return conn.execute(
                text("SELECT * FROM test_gate_verdict_table(:o, :u, :c, :p)"),
                {"o": orgs, "u": users, "c": creds, "p": providers},
            ).all()
        finally:
            conn.rollback()
