"""``app_switch_session`` checks its caller: the context's person and org, and idleness.

0042's function relied on its caller for two things (tests/security/
test_switch_function_attacks.py recorded both as gaps, unreachable through the app):

- it opened the new session for whatever ``p_org`` it was given, and wrote the audit row to
  whatever ``p_audit_org``: now it opens nothing unless ``p_uid`` is the context's person
  (``app_current_user()``), ``p_org`` the context's org as the gate answers it
  (``app_current_org()``: NULL for an org the person is not an active member of, or that is
  suspended) and the audit row goes to that same org;
- it rotated an idle session that nobody had revoked yet into a fresh one: the old session
  must now also have been seen within ``p_idle`` (the installation's idle limit; an org's
  stricter policy is checked by the caller's session check, which runs first).

A refused call returns false and changes nothing, as for a revoked session. The signature
gains ``p_idle``, so the old function is dropped (one definition, no overload to pick).

Revision ID: 0049_switch_checks_caller
Revises: 0042_switch_one_call
"""

from alembic import op

from dashboard.migrate import revision_module
from dashboard.provisioning import APP_ROLE

revision = "0049_switch_checks_caller"
down_revision = "0042_switch_one_call"
branch_labels = None
depends_on = None

_OLD_ARGS = (
    "uuid, uuid, uuid, uuid, text, text, text, uuid, uuid, text, text, text, text, text, jsonb"
)
_NEW_ARGS = _OLD_ARGS + ", interval"

SWITCH = r"""
CREATE FUNCTION app_switch_session(
  p_old uuid, p_new uuid, p_uid uuid, p_org uuid, p_ip text, p_ua text, p_method text,
  p_audit_org uuid, p_audit_actor_user uuid, p_audit_actor text, p_audit_action text,
  p_audit_target text, p_audit_ip text, p_audit_user_agent text, p_audit_details jsonb,
  p_idle interval)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
BEGIN
  -- Only for the context's person, into the org the gate lets them into now, with the audit
  -- row in that org's log (IS DISTINCT FROM: a NULL on either side refuses).
  IF p_uid IS DISTINCT FROM app_current_user() OR p_org IS DISTINCT FROM app_current_org()
     OR p_audit_org IS DISTINCT FROM p_org THEN
    RETURN false;
  END IF;
  -- The new row is inserted only if this statement revoked the old one, live and not idle: a
  -- session revoked (or gone idle) meanwhile opens nothing.
  WITH old AS (
    UPDATE user_sessions SET revoked_at = now(), revoked_reason = 'switched org'
     WHERE id = p_old AND user_id = p_uid AND revoked_at IS NULL
       AND last_seen_at > now() - p_idle
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
REVOKE ALL ON FUNCTION app_switch_session({args}) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_switch_session({args}) TO {app};
""".replace("{args}", _NEW_ARGS).replace("{app}", APP_ROLE)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION app_switch_session({_OLD_ARGS})")
    op.execute(SWITCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION app_switch_session({_NEW_ARGS})")
    op.execute(revision_module("0042_switch_one_call").SWITCH)
