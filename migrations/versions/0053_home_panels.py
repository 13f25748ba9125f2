"""The org home's panels from one gate call (issue 20): the member count, the getting-started
checklist's facts, the pending invitations and the recent audit events.

Revision ID: 0053_home_panels
Revises: 0051_home_reads

The home's statement read ``member_counts``, ``invitations`` (twice: the checklist's "anyone
invited" and the pending panel) and ``audit_events`` under RLS, and each table reference
asked the gate ``app_current_org()`` again (11-20 us of PostgreSQL CPU each, every home).
``app_home_panels()`` reads them for the org the gate admits, called once, and for no other:
no parameter names an org (as ``app_home_checklist()``, migration 0051, whose three facts it
takes over). NULL gate, no context, not a member, or the org not active: a member count of
0, no fact, no invitation and no event (and the home's statement finds no org row: 404).

It returns what the home shows, never a row of those tables: the count, the facts, and the
pending invitations and the newest events as JSON (at most ``p_shown`` of each, newest
first, as the statement built them before). Each panel is read only when the caller asks
for it (the viewer may see it; the app checks the permission): ``p_checklist``,
``p_invitations``, ``p_events``; a panel not asked for is NULL.

Its statement runs a generic plan (``plan_cache_mode``): PostgreSQL 18 caches an SQL function's
plan, but judged this one's generic plan dearer than a custom one (the ``LIMIT p_shown``) and
planned it anew on every call, 466 us of backend CPU per call on the 10,000-org bench
database against 86 us with the generic plan (74 with the gate called once, below). The gate
is called once: ``OFFSET 0`` keeps the ``g`` subquery from being pulled up, which put a call
of ``app_current_org()`` in each panel's scan instead (6 calls).
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0053_home_panels"
down_revision = "0051_home_reads"
branch_labels = None
depends_on = None

SIGNATURE = "app_home_panels(boolean, boolean, boolean, integer)"

PANELS = """
CREATE OR REPLACE FUNCTION app_home_panels(p_checklist boolean, p_invitations boolean,
                                p_events boolean, p_shown integer)
RETURNS TABLE (members bigint, invite boolean, setup boolean[], invitations json,
               events json)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
SET plan_cache_mode = force_generic_plan
ROWS 1 AS $$
  SELECT mc.members,
         CASE WHEN p_checklist THEN
           mc.members > 1 OR EXISTS (SELECT 1 FROM invitations i WHERE i.org_id = g.org)
         END,
         CASE WHEN p_checklist THEN ARRAY[
           EXISTS (SELECT 1 FROM sso_domains d
                    WHERE d.org_id = g.org AND d.verified_at IS NOT NULL),
           EXISTS (SELECT 1 FROM sso_connections s WHERE s.org_id = g.org),
           EXISTS (SELECT 1 FROM org_credentials k
                    WHERE k.org_id = g.org AND k.kind = 'api_key')]
         END,
         CASE WHEN p_invitations THEN
           (SELECT json_build_array(
                     count(*),
                     coalesce(json_agg(json_build_array(r.id, r.email, r.role, r.sent_at,
                                                        r.expires_at)
                                       ORDER BY r.sent_at DESC) FILTER (WHERE r.n <= p_shown),
                              json_build_array()))
              FROM (SELECT i.id, i.email, i.role, i.sent_at, i.expires_at,
                           row_number() OVER (ORDER BY i.sent_at DESC) AS n
                      FROM invitations i
                     WHERE i.org_id = g.org AND i.status = 'pending'
                       AND i.expires_at > now()) r)
         END,
         CASE WHEN p_events THEN
           (SELECT coalesce(json_agg(json_build_array(r.at, r.actor, r.action, r.target)
                                     ORDER BY r.at DESC), json_build_array())
              FROM (SELECT a.at, a.actor, a.action, a.target FROM audit_events a
                     WHERE a.org_id = g.org ORDER BY a.at DESC LIMIT p_shown) r)
         END
    FROM (SELECT app_current_org() AS org OFFSET 0) g,
         LATERAL (SELECT coalesce(sum(c.members), 0) AS members FROM member_counts c
                   WHERE c.org_id = g.org) mc
$$;
"""


def upgrade() -> None:
    op.execute(PANELS)
    for statement in definer_function(SIGNATURE):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
