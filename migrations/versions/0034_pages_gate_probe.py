"""The gate checks the principal's grant with one probe, not a hash of all their grants.

``app_current_org()`` (0009_partner) asks "does this user hold a membership in this org"
and "does this staff member hold a support grant here" as ``EXISTS`` subqueries, which
PostgreSQL turns into *hashed* subplans: on every call it reads all of the user's
memberships (or grants) into a hash table, then looks the org up in it. ``OFFSET 0`` keeps
each ``EXISTS`` a correlated probe of the (org_id, user_id) key instead, as 0027 did for the
users policy. Same rows, same verdict; one gate call measured 32.3 -> 25.8 µs on the
benchmark database (issue 20), and the gate runs once per policy per statement on every page.

Still STABLE, SECURITY DEFINER, PARALLEL SAFE (0020_perf), owned by the definer role, with a
fixed search_path. A dedicated database's gate (tiers/dedicated.py GATE_SQL) is re-applied by
``dedicated.prepare`` after its migrations, as before.

Revision ID: 0034_pages_gate_probe
Revises: 0026_cheap_context (after 0020_perf's PARALLEL SAFE and the cheap app_uuid)
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0034_pages_gate_probe"
down_revision = "0026_cheap_context"
branch_labels = None
depends_on = None

GATE = """
CREATE OR REPLACE FUNCTION app_current_org() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog, public AS $$
  SELECT o.id
    FROM organizations o
   WHERE o.id = app_uuid(current_setting('app.org_id', true))
     AND (
       (o.status = 'active' AND (
         EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                  WHERE m.org_id = o.id
                    AND m.user_id = app_uuid(current_setting('app.user_id', true))
                    AND u.is_active{offset})
         OR EXISTS (SELECT 1 FROM org_credentials c
                     WHERE c.org_id = o.id
                       AND c.id = app_uuid(current_setting('app.credential_id', true))
                       AND c.kind IN ('api_key', 'scim')
                       AND c.revoked_at IS NULL
                       AND (c.expires_at IS NULL OR c.expires_at > now()))
         OR (o.staff_access_allowed AND EXISTS (
               SELECT 1 FROM support_grants g JOIN users u ON u.id = g.staff_user_id
                WHERE g.org_id = o.id
                  AND g.staff_user_id = app_uuid(current_setting('app.user_id', true))
                  AND u.is_staff AND u.is_active
                  AND g.revoked_at IS NULL AND g.expires_at > now(){offset}))
       ))
       OR EXISTS (SELECT 1 FROM org_credentials c
                   WHERE c.org_id = o.id
                     AND c.id = app_uuid(current_setting('app.credential_id', true))
                     AND c.kind = 'system'
                     AND c.revoked_at IS NULL AND c.expires_at > now())
       OR EXISTS (SELECT 1 FROM provider_orgs p
                   WHERE p.org_id = o.id
                     AND p.provider_id = app_uuid(current_setting('app.provider_id', true)))
     )
$$;
"""


def _define(offset: str) -> None:
    op.execute(GATE.format(offset=offset))
    for statement in definer_function("app_current_org()"):
        op.execute(statement)


def upgrade() -> None:
    _define(" OFFSET 0")


def downgrade() -> None:
    _define("")
