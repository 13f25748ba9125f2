"""One canonical text for an audit row: ``app_audit_canonical(e)`` is
``app_audit_canonical_at(e, e.seq)``.

0021's ``app_audit_canonical(e)`` (what ``app_audit_verify`` hashes) and 0042's
``app_audit_canonical_at(e, p_seq)`` (what the chain trigger hashes, with the seq it is
advancing the head to) spelled out the same fields twice. Now the trigger's keeps the text
and the verifier's calls it with the row's own seq: a field changed in one place changes both,
and the writer and the verifier cannot drift apart. The text is what it was, so every hash
already written stays valid (tests/db/test_audit_chain.py compares both functions and 0021's
original on the same rows, and takes this migration down and up).

CREATE OR REPLACE keeps the function's owner, its grants (EXECUTE for the app and definer
roles only, 0021) and, restated here, its settings: SECURITY INVOKER, STABLE, search_path
pinned (``app_audit_canonical_at`` resolves in it). The trigger is not touched.

Revision ID: 0044_audit_canonical_one_text
Revises: 0042_switch_one_call
"""

from alembic import op

from dashboard.migrate import revision_module

revision = "0044_audit_canonical_one_text"
down_revision = "0042_switch_one_call"
branch_labels = None
depends_on = None

CANONICAL = r"""
CREATE OR REPLACE FUNCTION app_audit_canonical(e audit_events) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT app_audit_canonical_at(e, e.seq)
$$;
"""


def upgrade() -> None:
    op.execute(CANONICAL)


def downgrade() -> None:
    # 0021's definition, as it was (CREATE OR REPLACE: owner and grants stay).
    original = revision_module("0021_audit_chain").CANONICAL
    op.execute(original.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
