"""The gate's text probe (migration 0043) never opens what 0038's checks would not.

The probe alone (the gate cut after it) is compared with the whole gate and with 0038's gate
for every org and user setting of the gate's world (tests/gate_world.py), with and without a
credential and a provider set: it opens only where both open, with the same org id, and for a
member of an active org it is the probe that answers. Then the cases where it must find
nothing and leave the verdict to the full checks: no session, another org, a suspended org, an
inactive user, a membership removed in the same transaction, upper case or padded settings."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard.migrate import revision_module
from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from tests import factories, gate_world

PROBE_MIGRATION = revision_module("0043_gate_text_probe")


def _renamed(sql: str, name: str) -> str:
    assert sql.count("FUNCTION app_current_org()") == 1
    return sql.replace("FUNCTION app_current_org()", f"FUNCTION {name}()")


def probe_only_sql() -> str:
    """The live gate's definition with everything after the probe replaced by RETURN NULL."""
    gate = PROBE_MIGRATION.gate_sql()
    cut = gate.index("  v_org := app_uuid(current_setting('app.org_id', true));")
    return _renamed(gate[:cut] + "  RETURN NULL;\nEND\n$$;\n", "test_gate_probe")


def _references() -> list[str]:
    """The probe alone and 0038's gate, as the definer (SQL for the caller's transaction)."""
    return [probe_only_sql(), _renamed(PROBE_MIGRATION._gate_dispatch().GATE, "test_gate_0038"),
            *(f"ALTER FUNCTION {name}() OWNER TO {DEFINER_ROLE}"
              for name in ("test_gate_probe", "test_gate_0038"))]


def _with_references(conn) -> None:
    for sql in _references():
        conn.execute(text(sql))


def test_the_probe_opens_only_what_the_full_checks_open(admin_engine, world):
    label = {
        kind: {value: name for name, value in values.items()} for kind, values in world.items()
    }
    credentials = ["", world["credential"]["api_key live @active"]]
    providers = ["", world["provider"]["provider of active"]]
    rows = gate_world.verdicts(
        admin_engine,
        _references(),
        {"probe": "test_gate_probe()", "gate": "app_current_org()",
         "previous": "test_gate_0038()"},
        list(world["org"].values()), list(world["user"].values()), credentials, providers,
    )
    assert len(rows) == len(world["org"]) * len(world["user"]) * 4
    assert [r for r in rows if r.gate != r.previous] == []
    assert [r for r in rows if r.probe is not None and r.probe != r.gate] == []
    answered = {(label["org"][r.org], label["user"][r.usr]) for r in rows if r.probe}
    # The probe answers exactly the members' own orgs while active (upper case: full checks).
    assert answered == {("active", "member"), ("closed", "member"), ("active", "staff member")}
    # ... and the full checks still answer the others (staff, keys, providers).
    assert {label["user"][r.usr] for r in rows if r.gate and not r.probe} >= {"staff live"}


@pytest.fixture
def member():
    org, people = factories.org_with_members(owner="owner", bob="member")
    other, _ = factories.org_with_members(owner="owner")
    return str(org.id), str(people["bob"].id), str(other.id)


def _verdicts(admin_engine, org_id: str, user_id: str, before: str = "") -> tuple:
    """(probe alone, gate) for these settings, as the runtime role; ``before`` runs first as
    the superuser in the same (rolled back) transaction."""
    with admin_engine.connect() as conn:
        try:
            _with_references(conn)
            if before:
                conn.execute(text(before))
            conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            conn.execute(
                text(
                    "SELECT set_config('app.org_id', :o, true), set_config('app.user_id', :u, true)"
                ),
                {"o": org_id, "u": user_id},
            )
            return tuple(conn.execute(text("SELECT test_gate_probe(), app_current_org()")).one())
        finally:
            conn.rollback()


def test_a_member_is_answered_by_the_probe(admin_engine, member):
    org, bob, _ = member
    assert tuple(map(str, _verdicts(admin_engine, org, bob))) == (org, org)


@pytest.mark.parametrize(
    "case",
    [
        "another org",
        "no user",
        "no org",
        "suspended org",
        "inactive user",
        "membership removed",
        "upper case org",
        "upper case user",
        "padded user",
        "user as org",
    ],
)
def test_the_probe_finds_nothing_where_the_gate_closes(admin_engine, member, case):
    org, bob, other = member
    settings, before = {
        "another org": ((other, bob), ""),
        "no user": ((org, ""), ""),
        "no org": (("", bob), ""),
        "suspended org": (
            (org, bob),
            f"UPDATE organizations SET status = 'suspended' WHERE id = '{org}'",
        ),
        "inactive user": ((org, bob), f"UPDATE users SET is_active = false WHERE id = '{bob}'"),
        "membership removed": (
            (org, bob),
            f"DELETE FROM memberships WHERE org_id = '{org}' AND user_id = '{bob}'",
        ),
        "upper case org": ((org.upper(), bob), ""),
        "upper case user": ((org, bob.upper()), ""),
        "padded user": ((org, f" {bob}"), ""),
        "user as org": ((bob, bob), ""),
    }[case]
    probe, gate = _verdicts(admin_engine, *settings, before=before)
    assert probe is None
    if case.startswith("upper case"):
        assert str(gate) == org  # the full checks read any case, as before
    else:
        assert gate is None


def test_the_probe_reads_the_text_indexes(admin_engine, member):
    """Three index look-ups: a sequential scan of users here would cost the whole table."""
    org, bob, _ = member
    with admin_engine.connect() as conn:
        try:
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # a test database is tiny
            conn.execute(
                text(
                    "SELECT set_config('app.org_id', :o, true), set_config('app.user_id', :u, true)"
                ),
                {"o": org, "u": bob},
            )
            probe = PROBE_MIGRATION.PROBE
            select = probe.index("SELECT m.org_id INTO v_org")
            query = probe[select : probe.index(";", select)].replace(" INTO v_org", "")
            plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + query)))
        finally:
            conn.rollback()
    assert "organizations_id_text_idx" in plan and "users_id_text_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
