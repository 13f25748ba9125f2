"""The gate gives the very verdict of its previous definition (0034, one SQL statement) for
every combination of org, user, credential and provider settings: members active or not,
suspended orgs, staff with and without a live grant or the org's consent, API keys, SCIM
tokens and system credentials live, revoked, expired or of another org, providers, nothing
set, and values that are not UUIDs."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import text

from dashboard.migrate import revision_module
from dashboard.provisioning import APP_ROLE, DEFINER_ROLE
from tests import gate_world


def previous_gate_sql(name: str) -> str:
    previous = revision_module("0038_gate_dispatch").PREVIOUS
    return previous.replace("FUNCTION app_current_org()", f"FUNCTION {name}()")


def verdicts(admin_engine, world) -> list:
    """Every combination's verdict by the gate and by 0034's, as the runtime role; the
    reference functions exist only inside this (rolled back) transaction."""
    return gate_world.verdicts(
        admin_engine,
        [previous_gate_sql("test_gate_0034"),
         f"ALTER FUNCTION test_gate_0034() OWNER TO {DEFINER_ROLE}"],
        {"gate": "app_current_org()", "previous": "test_gate_0034()"},
        *(list(world[kind].values()) for kind in ("org", "user", "credential", "provider")),
    )


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
