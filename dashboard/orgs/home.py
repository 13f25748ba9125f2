"""What the org home reads: the overview (the org and its member count) and the panels (a
getting-started checklist, pending invitations and recent audit events). No Flask; the
caller passes its RLS-scoped session.

Page cost (issue 20): the overview, the org's entitlements (read on every org page),
every panel the viewer may use and the usage section's rollups are one statement
(one round trip, one plan; the member count read once for the overview and the checklist),
over indexes that lead with ``org_id`` (primary keys, ``audit_events_org_at_idx``), with a
fixed LIMIT, so the home runs the same statements for a 5-member org and a 100,000-member
one (tests/db/test_queries_per_page.py). Each table but the rollups' is a control-plane
table (tiers/catalogue.py), so the statement runs on the shared database for every tier; the
rollups ride along only where a statement packed into its context statement finds the
org's own tables (``cell_reads.cells_packable``); elsewhere the usage section reads them itself,
in the transaction this statement begins. Where they ride along, the statement is also a
transaction of its own, packed into its context statement (``tenancy.begin_with``, alone):
the request's two statements are two round trips, with no BEGIN and no COMMIT; each runs
every check of the gate under its own context.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy.orm import Session

from dashboard import cell_reads, tenancy
from dashboard.licenses import service as licenses
from dashboard.licenses.features import Feature
from dashboard.orgs.service import OrgOverview
from dashboard.permissions import Permission
from dashboard.usage import reports

SHOWN = 5


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    hint: str
    endpoint: str
    permission: Permission
    feature: Feature | None
    done: bool
    locked: bool = False  # the plan lacks ``feature`` (the org's entitlements, this request)


@dataclass(frozen=True)
class PendingInvite:
    id: uuid.UUID
    email: str
    role: str
    sent_at: datetime
    expires_at: datetime


class RecentEvent(NamedTuple):  # a tuple: the template unpacks it in its loop header
    at: datetime
    actor: str
    action: str
    target: str | None


# (key, label, hint, endpoint, permission, feature): the order new orgs usually go in.
_STEPS = (
    ("invite", "Invite your team", "Send invitations by email, with a role each.",
     "invitations.index", Permission.MEMBERS_INVITE, None),
    ("domain", "Verify a domain", "Prove you own your email domain with a DNS record.",
     "sso.settings", Permission.SSO_MANAGE, Feature.SSO),
    ("sso", "Set up single sign-on", "Let people sign in through your SAML or OIDC provider.",
     "sso.settings", Permission.SSO_MANAGE, Feature.SSO),
    ("api_key", "Create an API key", "Call the JSON API from your own systems.",
     "apikeys.index", Permission.APIKEYS_MANAGE, Feature.API_ACCESS),
)


@dataclass(frozen=True)
class HomePanels:
    checklist: list[Step] | None  # None: nothing to show (no step for you, or all done)
    checklist_done: int
    invitations: list[PendingInvite] | None  # None: you may not invite
    invitations_total: int
    events: list[RecentEvent] | None  # None: you may not read the audit log


# The home's statement as SQL text (with the org's entitlements, licenses/service.py),
# built once per shape (which panels this viewer may see) rather than as a SQLAlchemy
# expression per request (issue 20: building it cost more CPU than running it). Named
# columns, never SELECT *: the runtime role cannot read every column. The org row is the one
# RLS lets through (the current org) and must be :org_id, the viewer's membership: no row,
# no page (404).
_OVERVIEW = "o.id, o.slug, o.name, o.status, hp.members"  # o.plan: with the entitlements
# The member count and the panels come from ``app_home_panels`` (migration 0053): one gate
# call for the org it admits, where member_counts, invitations (twice) and audit_events under
# RLS asked the gate once each. Each list is the newest SHOWN rows as one JSON array of
# arrays; a panel the viewer may not see is not read (NULL).
_PANELS = f", app_home_panels(%s, %s, %s, {SHOWN}) hp"
_FROM = " FROM " + licenses.ENTITLEMENTS_FROM + _PANELS
_WHERE = " WHERE o.id = CAST(:org_id AS uuid)"
_CHECKLIST = "hp.invite, hp.setup"  # setup: [a verified domain, an SSO connection, an API key]
_SETUP_STEPS = ("domain", "sso", "api_key")
_INVITATIONS = "hp.invitations"  # [the pending count, [[id, email, role, sent, expires]...]]
_EVENTS = "hp.events"  # [[at, actor, action, target]...]


@lru_cache(maxsize=32)
def _home_sql(checklist: bool, invitations: bool, events: bool, usage: bool,
              checked: bool = False) -> str:
    """The home's statement for the panels wanted. ``checked``: the same read riding in the
    session check's statement (``rider``), for the org the check found (``chk.org_id``; its
    slug, name and plan are the check's own columns, so none is named like one of them)."""
    if checked:
        overview, entitlements = "hp.members", licenses.CHECKED_ORG_ENTITLEMENTS_COLUMNS
        source = " FROM " + licenses.CHECKED_ORG_ENTITLEMENTS_FROM + _PANELS
        joins, where = reports.CHECKED_ORG_ROLLUP_JOINS, " WHERE o.id IS NOT NULL"
    else:
        overview, entitlements = _OVERVIEW, licenses.ENTITLEMENTS_COLUMNS
        source, joins, where = _FROM, reports.ROLLUP_JOINS, _WHERE
    parts = [sql for wanted, sql in ((True, overview), (True, entitlements),
                                     (checklist, _CHECKLIST),
                                     (invitations, _INVITATIONS), (events, _EVENTS),
                                     (usage, reports.ROLLUP_COLUMNS)) if wanted]
    panels = source % tuple("true" if wanted else "false"
                            for wanted in (checklist, invitations, events))
    return compact("SELECT " + ",".join(parts) + panels + (joins if usage else "") + where)


# psycopg converts a statement's %(name)s placeholders with a regular expression, and keeps
# the result only for a text of at most psycopg._queries.MAX_CACHED_STATEMENT_LENGTH
# (4,096) bytes. Packed into its context statement (tenancy.begin_with) the home's
# statement was 4,392 bytes as sent: converted again on every request (~140 us of app
# CPU). Without its indentation it is ~3,000 (tests/unit/test_home_statement.py).
_LITERAL = re.compile(r"('(?:[^']|'')*')")
_SPACES = re.compile(r"\s+")


def compact(sql: str) -> str:
    """``sql`` with each run of whitespace outside its string literals made one space (the
    same statement; no ``--`` comment may run to the end of a line)."""
    if "--" in sql:
        raise ValueError("a -- comment would swallow what follows once lines are joined")
    pieces = _LITERAL.split(sql)
    pieces[::2] = [_SPACES.sub(" ", piece) for piece in pieces[::2]]  # outside literals
    return "".join(pieces)


def _shape(permissions: frozenset[str]) -> tuple[list, bool, bool]:
    """(the checklist's steps, may invite, may read the audit log) for these permissions."""
    steps = [s for s in _STEPS if s[4].value in permissions]
    return (steps, Permission.MEMBERS_INVITE.value in permissions,
            Permission.AUDIT_VIEW.value in permissions)


def home(session: Session, org_id: uuid.UUID, permissions: frozenset[str],
         usage: reports.RollupRead | None = None) -> tuple[OrgOverview, HomePanels] | None:
    """The overview and the panels this viewer may see, in one statement; None when the org
    is not visible (the caller answers 404). ``usage``, the rollups of the home's usage
    section, rides along where the org's cells are the shared schema's own tables (the
    shared tier: ``cell_reads.cells_packable``; elsewhere it reads them itself)."""
    steps, may_invite, may_audit = _shape(permissions)
    if str(tenancy.context_of(session).org_id) != str(org_id):
        return None  # the statement reads the context's org (below); any other: not visible
    # The statement is packed into its transaction's context statement (tenancy.begin_with;
    # the principal's check ran alone, orgs/routes.py), and its :org_id is the context's.
    # Where a packed statement finds the org's cell tables (as the principal's statement
    # admitted the route), the rollups ride along and it is a transaction of its own (alone:
    # one round trip, no BEGIN, no COMMIT). Elsewhere it begins the request's transaction,
    # in which the usage section reads the rollups under the same context (and, for a
    # dedicated org, with the ticket its context statement mints).
    packable = cell_reads.cells_packable(session)
    params = licenses.entitlements_params()
    carried = usage is not None and usage.org_id == org_id and packable
    if carried:
        params.update({k: v for k, v in usage.params().items() if k != "org_id"})
    row = tenancy.begin_with(session, _home_sql(bool(steps), may_invite, may_audit, carried),
                             params, alone=packable)
    if row is None:
        return None
    overview = OrgOverview(row.id, row.slug, row.name, row.plan, row.status, row.members)
    return overview, _panels(session, row, steps, may_invite, may_audit,
                             usage if carried else None)


def rider(permissions: frozenset[str],
          usage: reports.RollupRead | None) -> tuple[str, dict]:
    """The home's read, to ride in the session check's statement (``principal_with``), for
    a viewer with ``permissions`` (the caller checks the check's membership has them)."""
    steps, may_invite, may_audit = _shape(permissions)
    params = licenses.entitlements_params()
    if usage is not None:
        params.update({k: v for k, v in usage.params().items() if k != "org_id"})
    return _home_sql(bool(steps), may_invite, may_audit, usage is not None, True), params


def carried(session: Session, check, permissions: frozenset[str],
            usage: reports.RollupRead | None) -> tuple[OrgOverview, HomePanels] | None:
    """``home``'s answer from the check's row that carried ``rider``'s read, or None (not
    carried: the org row was not visible to it). The check found the org active
    (``chk.org_id``), its slug, name and plan in the same snapshot."""
    if check.has_license is None:
        return None
    overview = OrgOverview(check.org_id, check.slug, check.org_name, check.plan, "active",
                           check.members)
    # The rollups were read from the shared schema's tables: the org's own only there.
    taken = usage if usage is not None and cell_reads.cells_packable(session) else None
    return overview, _panels(session, check, *_shape(permissions), taken)


def _panels(session: Session, row, steps: list, may_invite: bool, may_audit: bool,
            usage: reports.RollupRead | None) -> HomePanels:
    # The org's entitlements rode along (every org page reads them: the plan's quotas, the
    # navigation's features); the rest of the request takes them from here.
    entitled = licenses.remember_entitlements(session, licenses.current_org(session), row)
    if usage is not None and cell_reads.cells_packable(session):  # as the route says
        usage.take(row)
    checklist = None
    done = 0
    if steps:
        facts = dict(zip(_SETUP_STEPS, row.setup, strict=True), invite=row.invite)
        checklist = [Step(key, label, hint, endpoint, permission, feature,
                          bool(facts[key]),
                          feature is not None and not entitled.has(feature))
                     for key, label, hint, endpoint, permission, feature in steps]
        done = sum(step.done for step in checklist)
        if done == len(checklist):
            checklist = None
    invitations = None
    invitations_total = 0
    if may_invite:
        invitations_total, shown = row.invitations
        invitations = [PendingInvite(uuid.UUID(i), email, role, _at(sent), _at(expires))
                       for i, email, role, sent, expires in shown]
    events = None
    if may_audit:
        events = [RecentEvent(_at(at), actor, action, target)
                  for at, actor, action, target in row.events]
    return HomePanels(checklist, done, invitations, invitations_total, events)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)
