"""Audited staff mode: org search for staff, and time-limited support grants with a reason.

Revision ID: 0010_support
Revises: 0009_partner
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0010_support"
down_revision = "0009_partner"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE FUNCTION app_is_staff() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM users WHERE id = app_current_user() AND is_staff AND is_active)
$$;

-- Staff search over all orgs: a few columns per org, nothing inside the org.
CREATE FUNCTION app_staff_orgs(p_query text, p_limit integer)
RETURNS TABLE (org_id uuid, slug text, name text, status text, plan text,
               staff_access_allowed boolean, delete_after timestamptz, members bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT app_is_staff() THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
    SELECT o.id, o.slug, o.name, o.status, o.plan, o.staff_access_allowed, o.delete_after,
           (SELECT count(*) FROM memberships m WHERE m.org_id = o.id)
      FROM organizations o
     WHERE p_query IS NULL OR p_query = ''
        OR o.slug ILIKE '%' || p_query || '%' OR o.name ILIKE '%' || p_query || '%'
        OR o.id::text = p_query
     ORDER BY lower(o.name), o.slug
     LIMIT least(greatest(p_limit, 1), 200);
END
$$;

-- Enter an org as staff: needs a stated reason, lasts at most an hour, refused when the owner
-- turned staff access off, and is written to the org's own audit log.
CREATE FUNCTION app_enter_support(p_org uuid, p_reason text, p_minutes integer)
RETURNS TABLE (grant_id uuid, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org organizations%ROWTYPE;
  v_staff users%ROWTYPE;
  v_grant uuid;
  v_expires timestamptz := now() + make_interval(mins => least(greatest(p_minutes, 1), 60));
BEGIN
  SELECT * INTO v_staff FROM users WHERE id = app_current_user() AND is_staff AND is_active;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'staff only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF length(btrim(coalesce(p_reason, ''))) < 10 THEN
    RAISE EXCEPTION 'state a reason of at least 10 characters' USING ERRCODE = 'check_violation';
  END IF;
  SELECT * INTO v_org FROM organizations WHERE id = p_org;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such organization' USING ERRCODE = 'no_data_found';
  END IF;
  IF NOT v_org.staff_access_allowed THEN
    RAISE EXCEPTION 'the owner turned staff access off' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO support_grants (org_id, staff_user_id, reason, expires_at)
  VALUES (p_org, v_staff.id, btrim(p_reason), v_expires)
  RETURNING id INTO v_grant;
  INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, details)
  VALUES (p_org, v_staff.id, 'staff:' || v_staff.email, 'staff.support.enter',
          'org:' || v_org.slug,
          jsonb_build_object('reason', btrim(p_reason), 'expires_at', v_expires,
                             'grant_id', v_grant));
  RETURN QUERY SELECT v_grant, v_expires;
END
$$;

CREATE FUNCTION app_exit_support(p_grant uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_grant support_grants%ROWTYPE;
BEGIN
  UPDATE support_grants SET revoked_at = now()
   WHERE id = p_grant AND staff_user_id = app_current_user() AND revoked_at IS NULL
  RETURNING * INTO v_grant;
  IF FOUND THEN
    INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, details)
    VALUES (v_grant.org_id, v_grant.staff_user_id,
            'staff:' || (SELECT email FROM users WHERE id = v_grant.staff_user_id),
            'staff.support.exit', 'grant:' || v_grant.id, '{}'::jsonb);
  END IF;
END
$$;
"""

GRANTS = """
GRANT INSERT ON support_grants TO tenantdesk_definer;
GRANT UPDATE (revoked_at) ON support_grants TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(GRANTS)
    for signature in (
        "app_is_staff()",
        "app_staff_orgs(text, integer)",
        "app_enter_support(uuid, text, integer)",
        "app_exit_support(uuid)",
    ):
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_exit_support(uuid), app_enter_support(uuid, text, integer),"
        " app_staff_orgs(text, integer), app_is_staff()"
    )
