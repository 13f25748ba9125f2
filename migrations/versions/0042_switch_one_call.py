"""The org switch's writes in one function call, and cheaper per-event writes (issue 20).

- ``app_switch_session(...)`` (SECURITY INVOKER: RLS and the gate apply exactly as to the
  statement it replaces) revokes the old session, opens the new one and, only if it did, touches
  the membership's "last active", remembers the person's last org and writes the switch's
  audit row. A function call may ride in the transaction's context statement
  (``tenancy.begin_with``), where data-modifying CTEs cannot (a subquery): the switch runs
  three statements instead of four.
- The membership's ``last_active_at`` is written by the switch only when it is older than a
  minute (as the session check does): no row write, and no statement-level member-count
  trigger, on every switch.
- The audit chain head is written once per event: ``audit_chain_heads.prev_hash`` keeps the
  hash the head had before, so one UPDATE ... RETURNING both advances the head and tells the
  new row its ``seq``, ``prev_hash`` and ``row_hash`` (before: an upsert that took the lock and
  read the head, then an UPDATE; two row versions per event). The first event of an org
  inserts the head (ON CONFLICT: concurrent first events queue on it, one chain).

Revision ID: 0042_switch_one_call
Revises: 0021_audit_chain, 0025_people_time_zone_recent, 0041_member_keys_columns
"""

from alembic import op

from dashboard.migrate import revision_module
from dashboard.provisioning import APP_ROLE

revision = "0042_switch_one_call"
# The heads whose tables and functions the new function and trigger use: the audit chain,
# app_set_last_org, the membership triggers.
down_revision = ("0021_audit_chain", "0025_people_time_zone_recent", "0041_member_keys_columns")
branch_labels = None
depends_on = None

GENESIS = "0" * 64

CHAIN = rf"""
ALTER TABLE audit_chain_heads ADD COLUMN prev_hash text;
UPDATE audit_chain_heads h SET prev_hash = coalesce(
  (SELECT e.prev_hash FROM audit_events e WHERE e.org_id = h.org_id AND e.seq = h.seq),
  '{GENESIS}');

-- app_audit_canonical(e) with the row's seq given apart: the trigger hashes the row with the
-- seq the head is being advanced to, inside the one statement that advances it. The text is
-- the same (tests/db/test_audit_chain.py verifies rows written this way with the original).
-- No pinned search_path: inlined into the trigger's statement (whose path is pinned).
CREATE FUNCTION app_audit_canonical_at(e audit_events, p_seq bigint) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT concat_ws(chr(31), e.org_id::text, e.id::text, p_seq::text,
                   to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   coalesce(e.actor_user_id::text, ''), e.actor, e.action,
                   coalesce(e.target, ''), coalesce(e.ip, ''), coalesce(e.user_agent, ''),
                   e.details::text)
$$;
"""

# The trigger: one write to the org's head per event.
LINK = rf"""
CREATE OR REPLACE FUNCTION app_audit_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF session_user <> '{APP_ROLE}' AND NEW.row_hash IS NOT NULL THEN
    INSERT INTO audit_chain_heads AS h (org_id, seq, head_hash, prev_hash)
    VALUES (NEW.org_id, NEW.seq, NEW.row_hash, NEW.prev_hash)
    ON CONFLICT (org_id) DO UPDATE SET seq = EXCLUDED.seq, head_hash = EXCLUDED.head_hash,
                                       prev_hash = EXCLUDED.prev_hash
      WHERE h.seq < EXCLUDED.seq;
    RETURN NEW;  -- an operator's copy keeps its chain; verify checks it like any other
  END IF;
  -- One write: the row lock queues concurrent writers of the org, and a writer that waited
  -- recomputes the SET list from the head it waited for (READ COMMITTED re-check).
  UPDATE audit_chain_heads h
     SET seq = h.seq + 1, prev_hash = h.head_hash,
         head_hash = encode(sha256(convert_to(h.head_hash || chr(10)
                            || app_audit_canonical_at(NEW, h.seq + 1), 'UTF8')), 'hex')
   WHERE h.org_id = NEW.org_id
  RETURNING h.seq, h.prev_hash, h.head_hash INTO NEW.seq, NEW.prev_hash, NEW.row_hash;
  IF NOT FOUND THEN
    -- The org's first event. Concurrent first events: one inserts, the others wait for it
    -- and advance the head it wrote.
    INSERT INTO audit_chain_heads AS h (org_id, seq, prev_hash, head_hash)
    VALUES (NEW.org_id, 1, '{GENESIS}',
            encode(sha256(convert_to('{GENESIS}' || chr(10)
                   || app_audit_canonical_at(NEW, 1), 'UTF8')), 'hex'))
    ON CONFLICT (org_id) DO UPDATE
      SET seq = h.seq + 1, prev_hash = h.head_hash,
          head_hash = encode(sha256(convert_to(h.head_hash || chr(10)
                             || app_audit_canonical_at(NEW, h.seq + 1), 'UTF8')), 'hex')
    RETURNING h.seq, h.prev_hash, h.head_hash INTO NEW.seq, NEW.prev_hash, NEW.row_hash;
  END IF;
  RETURN NEW;
END
$$;
"""

# SECURITY INVOKER (the default, said out loud): every statement in it runs as the runtime role
# under the transaction's context, through RLS and the gate, as the CTE statement did. No
# pinned search_path: the tables resolve as the caller's would (tiers/catalogue.py).
SWITCH = """
CREATE FUNCTION app_switch_session(
  p_old uuid, p_new uuid, p_uid uuid, p_org uuid, p_ip text, p_ua text, p_method text,
  p_audit_org uuid, p_audit_actor_user uuid, p_audit_actor text, p_audit_action text,
  p_audit_target text, p_audit_ip text, p_audit_user_agent text, p_audit_details jsonb)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
BEGIN
  -- The new row is inserted only if this statement revoked the old one: a session revoked
  -- meanwhile opens nothing.
  WITH old AS (
    UPDATE user_sessions SET revoked_at = now(), revoked_reason = 'switched org'
     WHERE id = p_old AND user_id = p_uid AND revoked_at IS NULL
    RETURNING sso_org_id, mfa_method, signed_in_at, reauth_at)
  INSERT INTO user_sessions (id, user_id, org_id, ip, user_agent, auth_method, sso_org_id,
                             mfa_method, signed_in_at, reauth_at)
  SELECT p_new, p_uid, p_org, p_ip, p_ua, p_method, old.sso_org_id, old.mfa_method,
         old.signed_in_at, old.reauth_at
    FROM old;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  -- "Last active" at minute resolution, as the session check keeps it: checked first, so a
  -- fresh one costs no UPDATE (and no statement trigger) at all.
  IF EXISTS (SELECT 1 FROM memberships m
              WHERE m.org_id = p_org AND m.user_id = p_uid
                AND (m.last_active_at IS NULL
                     OR m.last_active_at < now() - interval '1 minute')) THEN
    UPDATE memberships SET last_active_at = now() WHERE org_id = p_org AND user_id = p_uid;
  END IF;
  PERFORM app_set_last_org(p_org);
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, ip, user_agent,
                            details)
  VALUES (p_audit_org, p_audit_actor_user, p_audit_actor, p_audit_action, p_audit_target,
          p_audit_ip, p_audit_user_agent, p_audit_details);
  RETURN true;
END
$$;
REVOKE ALL ON FUNCTION app_switch_session(uuid, uuid, uuid, uuid, text, text, text, uuid, uuid,
  text, text, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_switch_session(uuid, uuid, uuid, uuid, text, text, text, uuid,
  uuid, text, text, text, text, text, jsonb) TO {app};
""".replace("{app}", APP_ROLE)


def upgrade() -> None:
    op.execute(CHAIN)
    op.execute(LINK)
    op.execute(SWITCH)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION app_switch_session(uuid, uuid, uuid, uuid, text, text, text, uuid,"
        " uuid, text, text, text, text, text, jsonb)"
    )
    op.execute(_OLD_LINK)
    op.execute("DROP FUNCTION app_audit_canonical_at(audit_events, bigint)")
    op.execute("ALTER TABLE audit_chain_heads DROP COLUMN prev_hash")


# 0021_audit_chain's trigger function, for downgrade (and bench/ab_switch.py's "before").
_OLD_LINK = revision_module("0021_audit_chain").LINK.replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
)
