"""A dedicated database's gate (dashboard/tiers/dedicated.py ``GATE_SQL``, PL/pgSQL) gives the
very verdict of its previous definition (one SQL statement) for every combination of ticket
and settings: real tickets, tickets of another org or principal, expired, tampered, unsigned,
malformed (missing or extra parts, an expiry that is not 1-18 digits), settings unset, empty,
equal or not to the ticket's. Both are compared on the shared test database (the same
``app_tier_sign`` and key), inside a transaction that is rolled back."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from dashboard.tiers import dedicated

PREVIOUS = r"""
CREATE FUNCTION test_tier_gate_previous() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog, public AS $$
  SELECT app_uuid(split_part(t.body, '|', 1))
    FROM (SELECT split_part(x, '.', 1) AS body, split_part(x, '.', 2) AS mac
            FROM coalesce(current_setting('app.tier_ticket', true), '') AS x) t
   WHERE t.mac <> '' AND t.mac = app_tier_sign(t.body)
     AND split_part(t.body, '|', 1) = coalesce(current_setting('app.org_id', true), '')
     AND split_part(t.body, '|', 2) = coalesce(current_setting('app.user_id', true), '')
     AND split_part(t.body, '|', 3) = coalesce(current_setting('app.credential_id', true), '')
     AND split_part(t.body, '|', 4) = coalesce(current_setting('app.provider_id', true), '')
     AND (CASE WHEN split_part(t.body, '|', 5) ~ '^[0-9]{1,18}$'
               THEN split_part(t.body, '|', 5)::bigint END) > extract(epoch FROM now())
$$
"""

COMPARE = """
CREATE FUNCTION test_tier_gate_verdicts(tickets text[], orgs text[], users text[],
                                        creds text[], providers text[])
RETURNS TABLE (ticket text, org text, usr text, cred text, provider text, gate uuid,
               previous uuid)
LANGUAGE plpgsql AS $$
BEGIN
  FOREACH ticket IN ARRAY tickets LOOP
   FOREACH org IN ARRAY orgs LOOP
    FOREACH usr IN ARRAY users LOOP
     FOREACH cred IN ARRAY creds LOOP
      FOREACH provider IN ARRAY providers LOOP
       PERFORM set_config('app.tier_ticket', ticket, true),
               set_config('app.org_id', org, true), set_config('app.user_id', usr, true),
               set_config('app.credential_id', cred, true),
               set_config('app.provider_id', provider, true);
       SELECT test_tier_gate_current(), test_tier_gate_previous() INTO gate, previous;
       RETURN NEXT;
      END LOOP;
     END LOOP;
    END LOOP;
   END LOOP;
  END LOOP;
END
$$
"""

ORG, OTHER_ORG, USER, CRED = (str(uuid.uuid4()) for _ in range(4))


def _bodies(now: int) -> list[str]:
    future, past = str(now + 120), str(now - 1)
    bodies = []
    for org in (ORG, OTHER_ORG, "", "not-a-uuid"):
        for user in (USER, ""):
            for cred in ("", CRED):
                for expiry in (future, past, "", "12ab", "9" * 19, "0" * 18 + "1"):
                    bodies.append("|".join((org, user, cred, "", expiry)))
    return bodies + [f"{ORG}|{USER}", f"{ORG}|{USER}||", f"{ORG}|{USER}|||{future}|extra", ""]


def _tickets(conn, now: int) -> list[str]:
    tickets = []
    for body in _bodies(now):
        mac = conn.execute(text("SELECT app_tier_sign(:b)"), {"b": body}).scalar_one()
        tampered = mac[:-1] + ("1" if mac.endswith("0") else "0")
        tickets += [f"{body}.{mac}", f"{body}.{tampered}", f"{body}.", body, f"{body}.{mac}.more"]
    return tickets


def test_the_dedicated_gate_is_the_previous_one_for_every_combination(admin_engine):
    with admin_engine.connect() as conn:
        try:
            current = dedicated.GATE_SQL.replace(
                "CREATE OR REPLACE FUNCTION app_current_org()",
                "CREATE FUNCTION test_tier_gate_current()")
            assert current != dedicated.GATE_SQL
            for sql, name in ((current, "test_tier_gate_current"),
                              (PREVIOUS, "test_tier_gate_previous")):
                conn.execute(text(sql))
                conn.execute(text(f"ALTER FUNCTION {name}() OWNER TO {DEFINER_ROLE}"))
                conn.execute(text(f"GRANT EXECUTE ON FUNCTION {name}() TO {APP_ROLE}"))
            conn.execute(text(COMPARE))
            now = conn.execute(text("SELECT extract(epoch FROM now())::bigint")).scalar_one()
            tickets = _tickets(conn, now)
            conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            rows = conn.execute(
                text("SELECT * FROM test_tier_gate_verdicts(:t, :o, :u, :c, :p)"),
                {"t": tickets, "o": [ORG, OTHER_ORG, "", "not-a-uuid"], "u": [USER, ""],
                 "c": ["", CRED], "p": ["", str(uuid.uuid4())]},
            ).all()
        finally:
            conn.rollback()
    assert len(rows) == len(tickets) * 4 * 2 * 2 * 2
    assert [r for r in rows if r.gate != r.previous] == []
    admitted = {(r.org, r.usr, r.cred) for r in rows if r.gate is not None}
    # Only real, unexpired tickets matching every setting open anything, and they do.
    assert (ORG, USER, "") in admitted and (OTHER_ORG, USER, CRED) in admitted
    assert all(r.gate == uuid.UUID(r.org) for r in rows if r.gate is not None)
