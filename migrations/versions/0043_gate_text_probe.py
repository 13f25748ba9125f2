"""The gate first tries a member's grant with three index look-ups on the settings' text, then
falls back to every check of 0038 (issue 20).

Every policy calls ``app_current_org()`` once per table reference per statement (an initplan):
2 calls on the members page, 3 on its search. For a signed-in member, 0038's gate turned both
settings into UUIDs (``app_uuid``: a translate and a cast each) and ran an ``EXISTS`` sub-plan
over organizations, memberships and users. Now it first runs one statement that finds the
org and the user by comparing the settings' text with ``id::text`` through two expression
indexes, ``(id::text) COLLATE "C"`` on organizations and on users (byte order, so the index
serves the comparison with a ``text`` setting), and then the membership by its key.

The probe only ever opens what 0038 opened: it matches when ``app.org_id`` and
``app.user_id`` are the canonical (lower case) text of an active org's id and of an active
user's id, and that user is a member of that org: exactly the first branch of 0038 with those
UUIDs, which then returns the same org id. In every other case (no setting, not a UUID, upper
case, a suspended org, an inactive user, no membership, staff, an API key, a SCIM token, a
system credential, a provider) the probe finds no row and the gate runs 0038's checks
unchanged, in the same order (tests/db/test_gate_verdicts.py compares the gate with 0034's
over every combination; tests/db/test_gate_text_probe.py checks the probe itself). Nothing is
remembered between calls: each call reads the rows in the calling statement's snapshot.

A member's call: 15.2 -> 8.9 µs of backend CPU (in-process A/B on the benchmark database,
bench/README.md, "Issue 20, session 8: rls pass"). Still plpgsql, STABLE, SECURITY DEFINER,
PARALLEL SAFE, owned by the definer role, with a fixed search_path.

The indexes are not unique (the schema guard wants a tenant table's unique indexes to hold its
key column; ``id`` is unique already). Only non-empty tables are analyzed (for the statistics
of the new expressions): an ANALYZE of an empty ``users`` table taught the planner that it
stays empty, and a later bulk insert of 100,000 people took minutes on that plan.

Revision ID: 0043_gate_text_probe
Revises: 0041_member_keys_columns, 0038_gate_dispatch (it replaces 0038's gate, so it must
run after it; 0041 is the members tables' head)
"""

from alembic import op
from sqlalchemy import text

from dashboard.migrate import revision_module
from dashboard.rls_sql import definer_function

revision = "0043_gate_text_probe"
down_revision = ("0041_member_keys_columns", "0038_gate_dispatch")
branch_labels = None
depends_on = None

INDEXES = {
    "organizations": "organizations_id_text_idx",
    "users": "users_id_text_idx",
}

# The member's grant, on the settings' text: see the docstring for why it opens nothing that
# 0038's first branch does not. The org and the user are sub-selects (initplans, one index
# look-up each), so the plan cannot start from the org's memberships, whatever the
# statistics say; then the membership by its key.
PROBE = """
  IF current_setting('app.user_id', true) <> '' THEN  -- API keys, SCIM, providers: skip it
    SELECT m.org_id INTO v_org
      FROM memberships m
     WHERE m.org_id = (SELECT o.id FROM organizations o
                        WHERE (o.id::text) COLLATE "C" = current_setting('app.org_id', true)
                          AND o.status = 'active')
       AND m.user_id = (SELECT u.id FROM users u
                         WHERE (u.id::text) COLLATE "C" = current_setting('app.user_id', true)
                           AND u.is_active);
    IF FOUND THEN
      RETURN v_org;
    END IF;
  END IF;
  v_org := app_uuid(current_setting('app.org_id', true));
"""


def _gate_dispatch():
    """0038's module: its gate is the fallback here and what the downgrade restores."""
    return revision_module("0038_gate_dispatch")


def gate_sql() -> str:
    """0038's gate with the probe in front of its first check."""
    previous = _gate_dispatch().GATE
    declare = "  v_org uuid := app_uuid(current_setting('app.org_id', true));\n"
    begin = "BEGIN\n  IF v_org IS NULL THEN"
    assert previous.count(declare) == 1 and previous.count(begin) == 1
    return previous.replace(declare, "  v_org uuid;\n").replace(
        begin, "BEGIN" + PROBE + "  IF v_org IS NULL THEN"
    )


def _define(sql: str) -> None:
    op.execute(sql)
    for statement in definer_function("app_current_org()"):
        op.execute(statement)


def upgrade() -> None:
    for table, index in INDEXES.items():
        op.execute(f'CREATE INDEX {index} ON {table} ((id::text) COLLATE "C")')
    _define(gate_sql())
    # The row count as CREATE INDEX just saw it (the owner reads these tables through RLS,
    # so a SELECT would see nothing here).
    bind = op.get_bind()
    for table in INDEXES:
        if bind.execute(
            text("SELECT reltuples > 0 FROM pg_class WHERE oid = CAST(:t AS regclass)"),
            {"t": f"public.{table}"},
        ).scalar():
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    _define(_gate_dispatch().GATE)
    for index in INDEXES.values():
        op.execute(f"DROP INDEX {index}")
