"""The context's ids parsed without a regular expression, inline (issue 20).

``app_uuid(text)`` turns ``app.org_id``/``app.user_id``/... (and the principal's bound ids)
into a uuid, or NULL for anything that is not one. The gate calls it five times per call,
``app_current_user()`` once, the principal's check six times, the context statement once:
twenty to sixty times a request. It was a regular expression (`~*` with counted repeats: ~4 µs
a match on a quiet machine, ~18 µs under load) inside a function with ``SET search_path``,
which PostgreSQL cannot inline, so each call also saved and restored the setting.

Now: one ``translate`` maps every hex digit to ``0`` and the result must equal the canonical
8-4-4-4-12 shape, which accepts exactly what the expression accepted (hex digits of either
case, dashes in those four places, 36 characters), and no ``SET`` clause, every name
schema-qualified, so the planner inlines it (and ``app_current_user()``) into the caller. Both
stay non-definer: they read only their argument and the caller's own settings.

Revision ID: 0026_cheap_context
Revises: 0020_perf
"""

from alembic import op

revision = "0026_cheap_context"
down_revision = "0020_perf"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE OR REPLACE FUNCTION app_uuid(value text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN pg_catalog.translate(value, '0123456789abcdefABCDEF', '0000000000000000000000')
         OPERATOR(pg_catalog.=) '00000000-0000-0000-0000-000000000000'
    THEN value::pg_catalog.uuid END
$$;

CREATE OR REPLACE FUNCTION app_current_user() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT public.app_uuid(pg_catalog.current_setting('app.user_id', true))
$$;
"""

DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION app_uuid(value text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  SELECT CASE
    WHEN value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    THEN value::uuid END
$$;

CREATE OR REPLACE FUNCTION app_current_user() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
  SELECT app_uuid(current_setting('app.user_id', true))
$$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
