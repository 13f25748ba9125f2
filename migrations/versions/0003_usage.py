"""Usage metering: raw events, per-day rollups, quota alert bookkeeping.

Revision ID: 0003_usage
Revises: 0001_foundation

- ``usage_events`` is the append-only record of what was reported. The unique key
  (org_id, idempotency_key) makes a retried event a no-op.
- ``usage_daily`` holds one row per (org, metric, UTC day), updated in the same statement
  that inserts the events, so charts read at most 365 small rows per metric and never scan
  events. Its primary key is the (org_id, metric, day) index the charts use.
- ``usage_alerts`` remembers which quota warnings went out, once per org, metric and period.

All three are tenant tables under the RLS gate.
"""

from alembic import op

from dashboard.rls_sql import tenant_table

revision = "0003_usage"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

# Metric names are validated by the service; the CHECK only keeps the column tidy so a new
# built-in metric does not need a migration.
SCHEMA = r"""
CREATE TABLE usage_events (
  org_id          uuid NOT NULL REFERENCES organizations(id),
  id              bigint GENERATED ALWAYS AS IDENTITY,
  metric          text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_]{0,39}$'),
  quantity        bigint NOT NULL CHECK (quantity >= 0),
  occurred_at     timestamptz NOT NULL,
  idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, idempotency_key)
);

CREATE TABLE usage_daily (
  org_id uuid NOT NULL REFERENCES organizations(id),
  metric text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_]{0,39}$'),
  day    date NOT NULL,
  total  bigint NOT NULL CHECK (total >= 0),
  PRIMARY KEY (org_id, metric, day)
);

CREATE TABLE usage_alerts (
  org_id       uuid NOT NULL REFERENCES organizations(id),
  metric       text NOT NULL,
  period_start date NOT NULL,
  threshold    smallint NOT NULL CHECK (threshold BETWEEN 1 AND 100),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, metric, period_start, threshold)
);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = []
    # Events are append-only for the app: a recorded event is never edited or deleted.
    statements += tenant_table(
        "usage_events", grants="SELECT, INSERT", update=False, delete=False
    )
    statements += tenant_table("usage_daily", grants="SELECT, INSERT, UPDATE", delete=False)
    statements += tenant_table("usage_alerts", grants="SELECT, INSERT", update=False, delete=False)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS usage_alerts, usage_daily, usage_events CASCADE")
