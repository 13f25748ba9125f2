"""Tamper-evident audit log: each org's audit events form a hash chain, written by the
database in the inserting transaction, so no application code can forget or forge it.

Every row carries ``seq`` (1, 2, 3 … per org), ``prev_hash`` (the previous row's hash, 64
zeros for the first) and ``row_hash`` = SHA-256 over ``prev_hash`` and the row's canonical
text (``app_audit_canonical``: fields joined by the unit separator U+001F, the time in UTC
with microseconds, ``details`` as PostgreSQL prints jsonb). A BEFORE INSERT trigger links
each new row to its org's chain head (``audit_chain_heads``, one row per org, locked by the
upsert so concurrent inserts of one org queue instead of forking the chain). Whatever the
runtime role sends for these columns is overwritten; only a copy made by an operator role
(a tier move, a restore) keeps the values it brings, and ``verify`` checks those too.

``app_audit_verify(org)`` recomputes the chain inside the database and names the first row
that does not fit (edited, deleted, reordered), and compares the chain with the latest
signed checkpoint (``audit_checkpoints``), so a truncated tail is caught too. It returns
counts and sequence numbers only, never row content.

Revision ID: 0021_audit_chain
Revises: 0001_foundation
"""

from alembic import op

from dashboard.provisioning import APP_ROLE
from dashboard.rls_sql import definer_function, tenant_table

revision = "0021_audit_chain"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

GENESIS = "0" * 64

# A row's canonical text, on its own: 0044 defines it through 0042's
# app_audit_canonical_at and restores this on downgrade.
CANONICAL = r"""CREATE FUNCTION app_audit_canonical(e audit_events) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT concat_ws(chr(31), e.org_id::text, e.id::text, e.seq::text,
                   to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   coalesce(e.actor_user_id::text, ''), e.actor, e.action,
                   coalesce(e.target, ''), coalesce(e.ip, ''), coalesce(e.user_agent, ''),
                   e.details::text)
$$;
"""

# The chain trigger's function as this migration wrote it (0042 replaces it and restores it
# on downgrade).
LINK = rf"""CREATE FUNCTION app_audit_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_seq  bigint;
  v_prev text;
BEGIN
  IF session_user <> '{APP_ROLE}' AND NEW.row_hash IS NOT NULL THEN
    INSERT INTO audit_chain_heads AS h (org_id, seq, head_hash)
    VALUES (NEW.org_id, NEW.seq, NEW.row_hash)
    ON CONFLICT (org_id) DO UPDATE SET seq = EXCLUDED.seq, head_hash = EXCLUDED.head_hash
      WHERE h.seq < EXCLUDED.seq;
    RETURN NEW;  -- an operator's copy keeps its chain; verify checks it like any other
  END IF;
  INSERT INTO audit_chain_heads AS h (org_id, seq, head_hash)
  VALUES (NEW.org_id, 0, '{GENESIS}')
  ON CONFLICT (org_id) DO UPDATE SET seq = h.seq  -- takes the row lock: one writer per org
  RETURNING h.seq, h.head_hash INTO v_seq, v_prev;
  NEW.seq := v_seq + 1;
  NEW.prev_hash := v_prev;
  NEW.row_hash := encode(sha256(convert_to(v_prev || chr(10) || app_audit_canonical(NEW),
                                           'UTF8')), 'hex');
  UPDATE audit_chain_heads SET seq = NEW.seq, head_hash = NEW.row_hash
   WHERE org_id = NEW.org_id;
  RETURN NEW;
END
$$;
"""

SCHEMA = rf"""
ALTER TABLE audit_events
  ADD COLUMN seq       bigint,
  ADD COLUMN prev_hash text,
  ADD COLUMN row_hash  text;

CREATE TABLE audit_chain_heads (
  org_id    uuid NOT NULL REFERENCES organizations(id),
  seq       bigint NOT NULL,
  head_hash text NOT NULL,
  PRIMARY KEY (org_id)
);

-- A signed statement of an org's chain head at a moment: a later verify that finds fewer rows
-- or another hash at that seq knows the log was cut or rewritten after it.
CREATE TABLE audit_checkpoints (
  org_id     uuid NOT NULL REFERENCES organizations(id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  seq        bigint NOT NULL,
  head_hash  text NOT NULL,
  signed_at  timestamptz NOT NULL DEFAULT now(),
  kid        text NOT NULL,
  signature  text NOT NULL,  -- compact JWS (ES256) of {{org, seq, head, at}}
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, seq)
);

{CANONICAL}
{LINK}
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION app_audit_link();

-- The chain of the rows already there, in the order they were written. FORCE is lifted for
-- the owner's backfill only (nothing else runs inside this migration's transaction).
ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY;
DO $$
DECLARE
  r      audit_events;
  v_org  uuid := NULL;
  v_seq  bigint;
  v_prev text;
BEGIN
  FOR r IN SELECT * FROM audit_events ORDER BY org_id, at, id LOOP
    IF v_org IS DISTINCT FROM r.org_id THEN
      v_org := r.org_id; v_seq := 0; v_prev := '{GENESIS}';
    END IF;
    v_seq := v_seq + 1;
    r.seq := v_seq;
    UPDATE audit_events e SET seq = v_seq, prev_hash = v_prev,
           row_hash = encode(sha256(convert_to(v_prev || chr(10)
                      || app_audit_canonical(r), 'UTF8')), 'hex')
     WHERE e.org_id = r.org_id AND e.id = r.id
    RETURNING e.row_hash INTO v_prev;
    INSERT INTO audit_chain_heads (org_id, seq, head_hash) VALUES (v_org, v_seq, v_prev)
    ON CONFLICT (org_id) DO UPDATE SET seq = EXCLUDED.seq, head_hash = EXCLUDED.head_hash;
  END LOOP;
END
$$;

ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events ALTER COLUMN seq SET NOT NULL,
  ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN row_hash SET NOT NULL;
CREATE UNIQUE INDEX audit_events_org_seq ON audit_events (org_id, seq);

-- Recompute an org's chain. Names the first row that does not fit, or the checkpoint the
-- chain no longer reaches; counts and sequence numbers only.
CREATE FUNCTION app_audit_verify(p_org uuid)
RETURNS TABLE (checked bigint, head_seq bigint, head_hash text, first_broken_seq bigint,
               problem text, checkpoint_seq bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r        audit_events;
  v_n      bigint := 0;
  v_prev   text := '{GENESIS}';
  v_expect bigint := 1;
  v_cp     record;
  v_at_cp  text;
BEGIN
  checked := 0; head_seq := 0; head_hash := v_prev;
  SELECT c.seq, c.head_hash INTO v_cp FROM audit_checkpoints c
   WHERE c.org_id = p_org ORDER BY c.seq DESC LIMIT 1;
  checkpoint_seq := v_cp.seq;
  FOR r IN SELECT * FROM audit_events e WHERE e.org_id = p_org ORDER BY e.seq LOOP
    v_n := v_n + 1;
    IF r.seq <> v_expect THEN
      first_broken_seq := v_expect;
      problem := format('row %s is missing (the next row is %s)', v_expect, r.seq);
      EXIT;
    END IF;
    IF r.prev_hash <> v_prev THEN
      first_broken_seq := r.seq;
      problem := format('row %s does not follow row %s (reordered, or a row between was '
                        'removed and the rest renumbered)', r.seq, r.seq - 1);
      EXIT;
    END IF;
    IF r.row_hash <> encode(sha256(convert_to(v_prev || chr(10)
                            || app_audit_canonical(r), 'UTF8')), 'hex') THEN
      first_broken_seq := r.seq;
      problem := format('row %s was changed after it was written', r.seq);
      EXIT;
    END IF;
    IF v_cp.seq = r.seq THEN
      v_at_cp := r.row_hash;
    END IF;
    v_prev := r.row_hash;
    v_expect := v_expect + 1;
    checked := v_n; head_seq := r.seq; head_hash := r.row_hash;
  END LOOP;
  IF problem IS NULL AND v_cp.seq IS NOT NULL THEN
    IF head_seq < v_cp.seq THEN
      first_broken_seq := head_seq + 1;
      problem := format('the log ends at row %s but a signed checkpoint vouches for %s rows',
                        head_seq, v_cp.seq);
    ELSIF v_at_cp IS DISTINCT FROM v_cp.head_hash THEN
      first_broken_seq := v_cp.seq;
      problem := format('row %s differs from the signed checkpoint', v_cp.seq);
    END IF;
  END IF;
  RETURN NEXT;
END
$$;

-- The app verifies the chain of the org it acts for, through the gate: no other org's.
CREATE FUNCTION app_audit_verify_current()
RETURNS TABLE (checked bigint, head_seq bigint, head_hash text, first_broken_seq bigint,
               problem text, checkpoint_seq bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT v.* FROM (SELECT app_current_org() AS org) c, app_audit_verify(c.org) v
   WHERE c.org IS NOT NULL
$$;

-- Every org's chain, for the operator's `tenantdesk audit verify` (owner role only).
CREATE FUNCTION app_audit_verify_all()
RETURNS TABLE (org_id uuid, slug text, checked bigint, head_seq bigint,
               first_broken_seq bigint, problem text, checkpoint_seq bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id, o.slug, v.checked, v.head_seq, v.first_broken_seq, v.problem, v.checkpoint_seq
    FROM organizations o, app_audit_verify(o.id) v ORDER BY o.slug
$$;

-- Orgs whose chain moved past their latest checkpoint (for the periodic checkpoint job).
CREATE FUNCTION app_audit_heads_to_checkpoint()
RETURNS TABLE (org_id uuid, seq bigint, head_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT h.org_id, h.seq, h.head_hash FROM audit_chain_heads h
   WHERE h.seq > 0 AND h.seq > coalesce((SELECT max(c.seq) FROM audit_checkpoints c
                                          WHERE c.org_id = h.org_id), 0)
$$;

CREATE FUNCTION app_audit_store_checkpoint(p_org uuid, p_seq bigint, p_head text, p_kid text,
                                           p_signature text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO audit_checkpoints (org_id, seq, head_hash, kid, signature)
  SELECT p_org, p_seq, p_head, left(p_kid, 100), left(p_signature, 4000)
   WHERE EXISTS (SELECT 1 FROM audit_chain_heads h
                  WHERE h.org_id = p_org AND h.seq >= p_seq)
  ON CONFLICT (org_id, seq) DO NOTHING
$$;

GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO tenantdesk_definer;
GRANT SELECT, INSERT ON audit_checkpoints TO tenantdesk_definer;
GRANT SELECT, UPDATE (seq, prev_hash, row_hash) ON audit_events TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = []
    statements += tenant_table("audit_chain_heads", grants="SELECT", insert=False, update=False,
                               delete=False)
    statements += tenant_table("audit_checkpoints", grants="SELECT", insert=False,
                               update=False, delete=False)
    statements += definer_function("app_audit_link()")
    statements += definer_function("app_audit_verify_current()")
    for statement in statements:
        op.execute(statement)
    # Whole-installation verify and checkpoints are the operator's (owner role), never the
    # app's: they see every org's chain head.
    for function in ("app_audit_verify(uuid)", "app_audit_verify_all()",
                     "app_audit_heads_to_checkpoint()",
                     "app_audit_store_checkpoint(uuid, bigint, text, text, text)"):
        op.execute(f"ALTER FUNCTION {function} OWNER TO tenantdesk_definer")
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO tenantdesk_owner")
    op.execute("REVOKE ALL ON FUNCTION app_audit_canonical(audit_events) FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION app_audit_canonical(audit_events) TO tenantdesk_app,"
               " tenantdesk_definer")


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS audit_events_chain ON audit_events;"
        " DROP FUNCTION IF EXISTS app_audit_store_checkpoint(uuid, bigint, text, text, text),"
        " app_audit_heads_to_checkpoint(), app_audit_verify_all(), app_audit_verify_current(),"
        " app_audit_verify(uuid), app_audit_link(),"
        " app_audit_canonical(audit_events);"
        " DROP TABLE IF EXISTS audit_checkpoints, audit_chain_heads;"
        " ALTER TABLE audit_events DROP COLUMN IF EXISTS seq, DROP COLUMN IF EXISTS prev_hash,"
        " DROP COLUMN IF EXISTS row_hash;"
    )
