"""The host step also names the custom domain row it resolved through (issue 23 gap).

A browser session used on an org's host is bound to that host (``dashboard/hosts``); for a
custom domain the binding is the domain row's id, so a domain that is removed, un-verified,
or removed and claimed again (a new row) never serves an old session again.

The id rides in the ``branding`` object as ``host_domain_id`` (``resolve.look_up`` takes it
out): the schema guard keeps a definer function at 10 columns, and this one has them all.

Revision ID: 0035_gaps_host_binding
Revises: 0025_hosts
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0035_gaps_host_binding"
down_revision = "0025_hosts"
branch_labels = None
depends_on = None

_BODY = r"""
  SELECT o.id, o.slug, o.name, c.id, coalesce(c.require_sso, false),
         coalesce(c.owner_break_glass, true),
         jsonb_build_object('display_name', b.display_name, 'primary_color', b.primary_color,
                            'support_contact', b.support_contact,
                            'logo_sha256', b.logo_sha256,
                            'white_label', coalesce(b.white_label, false)%s),
         jsonb_build_object('now', now(), 'plan', o.plan, 'has_license', l.org_id IS NOT NULL,
                            'valid_from', l.valid_from, 'valid_until', l.valid_until,
                            'overrides', coalesce((
                              SELECT jsonb_agg(jsonb_build_object(
                                       'feature', f.feature, 'enabled', f.enabled,
                                       'expires_at', f.expires_at))
                                FROM feature_overrides f
                               WHERE f.org_id = o.id
                                 AND f.feature IN ('branding', 'white-label')), '[]'))
    FROM organizations o
    LEFT JOIN sso_connections c ON c.org_id = o.id AND c.enabled
    LEFT JOIN org_branding b ON b.org_id = o.id
    LEFT JOIN licenses l ON l.org_id = o.id
   WHERE o.status = 'active'
     AND ((p_slug IS NOT NULL AND o.slug = p_slug)
          OR (p_domain IS NOT NULL AND o.id = (
                SELECT d.org_id FROM custom_domains d
                 WHERE d.domain = lower(p_domain) AND d.verified_at IS NOT NULL)))
   LIMIT 1
"""

# The verified row itself (NULL for a <slug><suffix> host): one more probe of its index.
_DOMAIN_ID = (",\n                            'host_domain_id', (SELECT d.id FROM custom_domains d"
              " WHERE p_slug IS NULL AND d.org_id = o.id AND d.domain = lower(p_domain)"
              " AND d.verified_at IS NOT NULL)")

_NEW = (
    "DROP FUNCTION app_host_org(text, text);"
    " CREATE FUNCTION app_host_org(p_slug text, p_domain text)"
    " RETURNS TABLE (org_id uuid, slug text, name text, connection_id uuid,"
    " require_sso boolean, owner_break_glass boolean, branding jsonb, license jsonb)"
    " LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$"
    + _BODY % _DOMAIN_ID
    + "$$"
)

_OLD = (
    "DROP FUNCTION app_host_org(text, text);"
    " CREATE FUNCTION app_host_org(p_slug text, p_domain text)"
    " RETURNS TABLE (org_id uuid, slug text, name text, connection_id uuid,"
    " require_sso boolean, owner_break_glass boolean, branding jsonb, license jsonb)"
    " LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$"
    + _BODY % ""
    + "$$"
)


def upgrade() -> None:
    op.execute(_NEW)
    for statement in definer_function("app_host_org(text, text)"):
        op.execute(statement)


def downgrade() -> None:
    op.execute(_OLD)
    for statement in definer_function("app_host_org(text, text)"):
        op.execute(statement)
