"""Tenant by hostname: verified custom domains, per-org branding, and the one look-up that
resolves a request's host to an org before anyone is signed in (issue 23).

- ``custom_domains`` (tenant): a domain an org claims and proves by a DNS TXT record, like
  ``sso_domains``; served for the org only once verified, and by one org only.
- ``org_branding`` (tenant): display name, primary colour, support contact, white-label
  wish and the re-encoded PNG logo.
- ``app_host_org(slug, domain)``: the only cross-tenant read of the host step: the org's id,
  slug, name, its SSO button and password rule, its branding and the license facts that
  decide whether branding applies (the app computes that with licenses/entitlements.py).
- ``app_host_logo(org)``: the logo bytes of an org resolved by its host (public by nature:
  it is shown on the org's sign-in page).
- ``sso_login_requests.return_url``: the org host an SSO sign-in started on, so the browser
  comes back to that host (its session cookie is host-only) after the IdP.

Revision ID: 0025_hosts
Revises: 0014_sso_returning, 0002_plans_b_terms
"""

from alembic import op

from dashboard.rls_sql import definer_function, tenant_table

revision = "0025_hosts"
down_revision = ("0014_sso_returning", "0002_plans_b_terms")
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE custom_domains (
  org_id          uuid NOT NULL REFERENCES organizations(id),
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  domain          text NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 3 AND 253),
  token           text NOT NULL CHECK (length(token) BETWEEN 16 AND 100),
  verified_at     timestamptz,
  last_checked_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, domain)
);
-- A host serves one org: a domain is verified by one org only (the definer check gives the
-- clean error; this index closes the race of two orgs verifying at the same moment).
CREATE UNIQUE INDEX custom_domains_verified_key ON custom_domains (domain)
  WHERE verified_at IS NOT NULL;

CREATE TABLE org_branding (
  org_id          uuid PRIMARY KEY REFERENCES organizations(id),
  display_name    text CHECK (length(display_name) BETWEEN 1 AND 100),
  primary_color   text CHECK (primary_color ~ '^#[0-9a-f]{6}$'),
  support_contact text CHECK (length(support_contact) BETWEEN 1 AND 200),
  white_label     boolean NOT NULL DEFAULT false,
  logo            bytea CHECK (octet_length(logo) <= 524288),
  logo_sha256     text CHECK (logo_sha256 ~ '^[0-9a-f]{64}$'),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK ((logo IS NULL) = (logo_sha256 IS NULL))
);

ALTER TABLE sso_login_requests
  ADD COLUMN return_url text
    CHECK (length(return_url) <= 300 AND return_url ~ '^https?://[-a-z0-9.:]+$');

INSERT INTO features (key, name, description) VALUES
  ('branding', 'Custom branding', 'Your logo, colour and name on your sign-in page, the top bar and your mails.'),
  ('white-label', 'White label', 'Only your own name on your pages and mails.');
INSERT INTO plan_features (plan, feature) VALUES
  ('growth', 'branding'), ('scale', 'branding'), ('enterprise', 'branding'),
  ('enterprise', 'white-label');

-- The host step, before anyone is known: an active org by its slug (<slug><suffix>) or by a
-- verified custom domain. Only what the sign-in page and the branding need.
CREATE FUNCTION app_host_org(p_slug text, p_domain text)
RETURNS TABLE (org_id uuid, slug text, name text, connection_id uuid, require_sso boolean,
               owner_break_glass boolean, branding jsonb, license jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id, o.slug, o.name, c.id, coalesce(c.require_sso, false),
         coalesce(c.owner_break_glass, true),
         jsonb_build_object('display_name', b.display_name, 'primary_color', b.primary_color,
                            'support_contact', b.support_contact,
                            'logo_sha256', b.logo_sha256,
                            'white_label', coalesce(b.white_label, false)),
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
$$;

-- The logo of an active org (the host step named it); the sign-in page shows it to anyone.
CREATE FUNCTION app_host_logo(p_org uuid)
RETURNS TABLE (logo bytea, logo_sha256 text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT b.logo, b.logo_sha256
    FROM org_branding b JOIN organizations o ON o.id = b.org_id AND o.status = 'active'
   WHERE b.org_id = p_org AND b.logo IS NOT NULL
$$;

-- Is this custom domain verified by an org other than the current one?
CREATE FUNCTION app_custom_domain_taken(p_domain text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM custom_domains d
                  WHERE d.domain = lower(p_domain) AND d.verified_at IS NOT NULL
                    AND d.org_id IS DISTINCT FROM app_current_org())
$$;

GRANT SELECT ON custom_domains, org_branding, organizations, sso_connections, licenses,
  feature_overrides TO tenantdesk_definer;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = [*tenant_table("custom_domains"), *tenant_table("org_branding")]
    for function in ("app_host_org(text, text)", "app_host_logo(uuid)",
                     "app_custom_domain_taken(text)"):
        statements += definer_function(function)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_custom_domain_taken(text), app_host_logo(uuid),"
        " app_host_org(text, text);"
        " ALTER TABLE sso_login_requests DROP COLUMN IF EXISTS return_url;"
        " DELETE FROM plan_features WHERE feature IN ('branding', 'white-label');"
        " DELETE FROM feature_overrides WHERE feature IN ('branding', 'white-label');"
        " DELETE FROM features WHERE key IN ('branding', 'white-label');"
        " DROP TABLE IF EXISTS org_branding, custom_domains"
    )
