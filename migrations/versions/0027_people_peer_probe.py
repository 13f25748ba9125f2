"""Reading a page of people costs one membership probe per person, never the whole org.

The ``users`` read policy (migration 0011_people) lets one see oneself and the current org's
members: ``EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.org_id =
<gate>)``. PostgreSQL may plan such an EXISTS as a *hashed* subplan: it reads every membership
of the org into a hash first. For the members page of a 100,000-member org that is 100,000
rows read to show 50 people (89 ms of database time in the benchmark's seeded org, issue 20),
chosen or not depending on the statistics. ``OFFSET 0`` keeps the EXISTS a correlated probe:
one look-up in the (org_id, user_id) primary key per person the query actually reads. Same
rows visible as before.

Revision ID: 0027_people_peer_probe
Revises: 0011_people
"""

from alembic import op

revision = "0027_people_peer_probe"
down_revision = "0011_people"
branch_labels = None
depends_on = None

PROBE = (
    "ALTER POLICY users_select ON users USING ("
    "id = (SELECT app_current_user()) OR EXISTS (SELECT 1 FROM memberships m"
    " WHERE m.user_id = users.id AND m.org_id = (SELECT app_current_org()){offset}))"
)


def upgrade() -> None:
    op.execute(PROBE.format(offset=" OFFSET 0"))


def downgrade() -> None:
    op.execute(PROBE.format(offset=""))
