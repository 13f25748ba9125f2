"""The gate runs only the check of the principal that is set, not all five.

``app_current_org()`` (0034) was one SQL statement: the org row and five OR-ed ``EXISTS``
branches (membership, API key / SCIM token, support grant, system credential, provider) over
six tables. PostgreSQL starts (and stops) every branch's sub-plan and locks every table on
each call, although a signed-in member needs only the first. The gate runs once per policy
per statement on every page (10-16 calls a page), so that start-up was most of its cost.

Now the gate is PL/pgSQL and runs one small cached statement per principal that is set, in
the same order: the user's membership (then their support grant), the credential (API key,
SCIM token or system credential), the provider. A setting that is absent or not a UUID reads
as NULL, which matched no row in any branch before either; so the verdict is the same for
every combination of settings (tests/db/test_gate_verdicts.py compares it with 0034's over
all of them). Each statement reads the org row itself, and all of them use the calling
statement's snapshot (STABLE), so the gate is still re-evaluated on every query: nothing is
remembered between calls. One member's call measured 29.4 -> 14.0 µs of backend CPU on the
benchmark database (a trivial definer function: 6.0).

Still STABLE, SECURITY DEFINER, PARALLEL SAFE, owned by the definer role, with a fixed
search_path. A dedicated database's gate (tiers/dedicated.py GATE_SQL) is re-applied by
``dedicated.prepare`` after its migrations, as before.

Revision ID: 0038_gate_dispatch
Revises: 0034_pages_gate_probe
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0038_gate_dispatch"
down_revision = "0034_pages_gate_probe"
branch_labels = None
depends_on = None

GATE = """
CREATE OR REPLACE FUNCTION app_current_org() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog, public AS $$
DECLARE
  v_org uuid := app_uuid(current_setting('app.org_id', true));
  v_principal uuid;
BEGIN
  IF v_org IS NULL THEN
    RETURN NULL;
  END IF;

  v_principal := app_uuid(current_setting('app.user_id', true));
  IF v_principal IS NOT NULL THEN
    -- A member of an active org, while their account is active.
    IF EXISTS (SELECT 1 FROM organizations o
                 JOIN memberships m ON m.org_id = o.id
                 JOIN users u ON u.id = m.user_id
                WHERE o.id = v_org AND o.status = 'active'
                  AND m.user_id = v_principal AND u.is_active) THEN
      RETURN v_org;
    END IF;
    -- Staff with a live support grant, where the org allows staff access.
    IF EXISTS (SELECT 1 FROM organizations o
                 JOIN support_grants g ON g.org_id = o.id
                 JOIN users u ON u.id = g.staff_user_id
                WHERE o.id = v_org AND o.status = 'active' AND o.staff_access_allowed
                  AND g.staff_user_id = v_principal AND u.is_staff AND u.is_active
                  AND g.revoked_at IS NULL AND g.expires_at > now()) THEN
      RETURN v_org;
    END IF;
  END IF;

  v_principal := app_uuid(current_setting('app.credential_id', true));
  IF v_principal IS NOT NULL THEN
    -- A live API key or SCIM token of an active org; a system credential (an export) reads
    -- even a suspended org, and always expires.
    IF EXISTS (SELECT 1 FROM organizations o
                 JOIN org_credentials c ON c.org_id = o.id
                WHERE o.id = v_org AND c.id = v_principal AND c.revoked_at IS NULL
                  AND ((o.status = 'active' AND c.kind IN ('api_key', 'scim')
                        AND (c.expires_at IS NULL OR c.expires_at > now()))
                       OR (c.kind = 'system' AND c.expires_at > now()))) THEN
      RETURN v_org;
    END IF;
  END IF;

  v_principal := app_uuid(current_setting('app.provider_id', true));
  IF v_principal IS NOT NULL THEN
    -- The provider that provisioned the org (whatever its status).
    IF EXISTS (SELECT 1 FROM organizations o
                 JOIN provider_orgs p ON p.org_id = o.id
                WHERE o.id = v_org AND p.provider_id = v_principal) THEN
      RETURN v_org;
    END IF;
  END IF;

  RETURN NULL;
END
$$;
"""

# 0034_pages_gate_probe's gate, restored by the downgrade (and the reference the verdict
# test compares the gate with).
PREVIOUS = """
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
                    AND u.is_active OFFSET 0)
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
                  AND g.revoked_at IS NULL AND g.expires_at > now() OFFSET 0))
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


def _define(sql: str) -> None:
    op.execute(sql)
    for statement in definer_function("app_current_org()"):
        op.execute(statement)


def upgrade() -> None:
    _define(GATE)


def downgrade() -> None:
    _define(PREVIOUS)
