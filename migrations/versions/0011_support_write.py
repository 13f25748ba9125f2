"""Support mode is read-only unless staff choose write access, with its own reason, on entry.

Revision ID: 0011_support_write
Revises: 0010_support

``support_grants.write_reason``: NULL for a read-only grant (the default). Write access is
set by ``app_support_allow_writes`` only on a grant made in the same transaction (so it is
chosen when entering, never added later), and is written to the org's audit log with its
reason. What a grant with write access may change, and what support mode can never do
(create lasting access), is decided in ``dashboard/permissions.py``.
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0011_support_write"
down_revision = "0010_support"
branch_labels = None
depends_on = None

SCHEMA = r"""
ALTER TABLE support_grants ADD COLUMN write_reason text
  CHECK (write_reason IS NULL OR length(write_reason) BETWEEN 10 AND 500);

CREATE FUNCTION app_support_allow_writes(p_grant uuid, p_reason text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_grant support_grants%ROWTYPE;
BEGIN
  IF length(btrim(coalesce(p_reason, ''))) < 10 THEN
    RAISE EXCEPTION 'state why you need to change things (at least 10 characters)'
      USING ERRCODE = 'check_violation';
  END IF;
  UPDATE support_grants SET write_reason = left(btrim(p_reason), 500)
   WHERE id = p_grant AND staff_user_id = app_current_user() AND revoked_at IS NULL
     AND write_reason IS NULL AND created_at = now()  -- made in this very transaction
  RETURNING * INTO v_grant;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'write access is chosen when entering support mode'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, details)
  VALUES (v_grant.org_id, v_grant.staff_user_id,
          'staff:' || (SELECT email FROM users WHERE id = v_grant.staff_user_id),
          'staff.support.write', 'grant:' || v_grant.id,
          jsonb_build_object('reason', v_grant.write_reason, 'expires_at', v_grant.expires_at));
END
$$;

GRANT UPDATE (write_reason) ON support_grants TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for statement in definer_function("app_support_allow_writes(uuid, text)"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_support_allow_writes(uuid, text)")
    op.execute("ALTER TABLE support_grants DROP COLUMN IF EXISTS write_reason")
