"""Plans, licenses and feature flags: reads for the org itself, audited writes for staff.

No Flask here. Every function takes an explicit SQLAlchemy session; the org comes from the
session's tenant context (``tenancy.context_of``) unless a staff function names it.

For other areas:

- ``has_feature(session, "sso")``, ``seat_limit(session)``, ``seats_used(session)``,
  ``rate_limit_per_minute(session)``, ``quota(session, "api_calls")`` read the current org's
  entitlements. They are computed from the database's ``now()`` at most once per transaction
  (cached on the session, never in the process), so a plan change, an expired license or an
  expired override takes effect on the next request of every worker.
- ``register_usage_reader(metric, fn)`` lets the usage area feed current use to the
  "Plan & features" page (seats are counted here from memberships).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.audit.service import Actor
from dashboard.licenses.entitlements import (
    Entitlements,
    FeatureInfo,
    LicenseFacts,
    OverrideFacts,
    PlanInfo,
    Quota,
    compute,
)
from dashboard.licenses.features import FALLBACK_PLAN, Feature, Metric
from dashboard.models import Membership, User

_CACHE_KEY = "licenses.entitlements"


class OrgNotVisible(LookupError):
    """The session cannot see that org (no tenant context, or another org)."""


class NotStaff(PermissionError):
    """Only active Tenantdesk staff may change plans and overrides."""


class LicenseError(ValueError):
    """Bad input for a plan or override change; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ------------------------------------------------------------------------------ catalogue

# One plan as JSON, with its features and quotas (used by both queries below).
_PLAN_JSON = """
    jsonb_build_object(
      'key', p.key, 'name', p.name, 'rate_limit_per_minute', p.rate_limit_per_minute,
      'features', ARRAY(SELECT f.feature FROM plan_features f WHERE f.plan = p.key),
      'quotas', ARRAY(SELECT jsonb_build_object('metric', q.metric, 'quota', q.quota,
                                                'hard', q.hard, 'period', q.period)
                        FROM plan_quotas q WHERE q.plan = p.key))
"""

_PLANS_SQL = text(
    f"SELECT {_PLAN_JSON} FROM plans p WHERE :all OR p.key = ANY(:keys) ORDER BY p.position"
)


def plans(session: Session, keys: Sequence[str] | None = None) -> dict[str, PlanInfo]:
    """Plan definitions by key, cheapest first (all of them when ``keys`` is None)."""
    rows = session.scalars(_PLANS_SQL, {"all": keys is None, "keys": list(keys or [])})
    return _plans_from_json(rows)


def _plans_from_json(rows) -> dict[str, PlanInfo]:
    return {
        row["key"]: PlanInfo(
            key=row["key"],
            name=row["name"],
            rate_limit_per_minute=row["rate_limit_per_minute"],
            features=frozenset(row["features"]),
            quotas={
                q["metric"]: Quota(q["metric"], q["quota"], q["hard"], q["period"])
                for q in row["quotas"]
            },
        )
        for row in rows
    }


def feature_catalogue(session: Session) -> list[FeatureInfo]:
    rows = session.execute(text("SELECT key, name, description FROM features"))
    return [FeatureInfo(*row) for row in rows]


# ------------------------------------------------------------------------------ entitlements

# Everything the rules need in one statement (it runs on every org page for the banner):
# the clock, the license, the overrides, and the catalogue (every plan and feature) as one
# JSON text each, sent only when the worker's catalogue is not the database's (issue 20:
# building the JSON was ~120 us of the org home's statement, the same text for every org
# until staff change the catalogue). ``catalogue_revision`` (migration 0051) takes a new
# value in the very transaction that changes a plan, feature, quota or limit; read in the
# same snapshot as the catalogue, it keys the worker's parsed copy (``_catalogue_of``).
# :catalogue_known is the revision this worker holds (``entitlements_params``).
ENTITLEMENTS_COLUMNS = f"""
    now() AS now, o.plan, l.id IS NOT NULL AS has_license, l.seats,
    l.rate_limit_per_minute, l.valid_from, l.valid_until,
    ARRAY(SELECT jsonb_build_object('feature', f.feature, 'enabled', f.enabled,
                                    'expires_at', f.expires_at, 'reason', f.reason)
            FROM feature_overrides f WHERE f.org_id = o.id) AS overrides,
    cr.revision::text AS catalogue_revision,
    CASE WHEN cr.revision::text IS DISTINCT FROM :catalogue_known THEN
      (SELECT json_agg({_PLAN_JSON} ORDER BY p.key)::text FROM plans p) END AS plans,
    CASE WHEN cr.revision::text IS DISTINCT FROM :catalogue_known THEN
      (SELECT json_agg(json_build_array(x.key, x.name, x.description) ORDER BY x.key)::text
         FROM features x) END AS catalogue
"""
# The FROM the columns above need. A statement that reads the org row anyway (the org
# home's) may carry them too (with ``entitlements_params()``) and hand its row to
# ``remember_entitlements``: one statement fewer, the same row.
ENTITLEMENTS_FROM = (" organizations o LEFT JOIN licenses l ON l.org_id = o.id"
                     " CROSS JOIN catalogue_revision cr")
_ENTITLEMENTS_SQL = text(
    f"SELECT {ENTITLEMENTS_COLUMNS} FROM {ENTITLEMENTS_FROM} WHERE o.id = :org"
)
# The same, for a read riding in the session check's statement (``principal.principal_with``):
# the check read the org's row already, through the gate, in that statement: its plan
# (``chk.plan``) and its id (``chk.org_id``, NULL unless the org is active and visible). A
# rider reads the rest for that id, without the row again (one gate call and one index scan
# fewer) and without a second ``plan`` column.
CHECKED_ORG_ENTITLEMENTS_COLUMNS = ENTITLEMENTS_COLUMNS.replace(" o.plan,", "", 1)
CHECKED_ORG_ENTITLEMENTS_FROM = ENTITLEMENTS_FROM.replace(
    " organizations o ", " (SELECT chk.org_id AS id) AS o ", 1
)
assert CHECKED_ORG_ENTITLEMENTS_COLUMNS != ENTITLEMENTS_COLUMNS
assert "organizations" not in CHECKED_ORG_ENTITLEMENTS_FROM


def current_org(session: Session) -> uuid.UUID:
    org_id = tenancy.context_of(session).org_id
    if org_id is None:
        raise OrgNotVisible("no org in this session's tenant context")
    return org_id


def entitlements(session: Session, org_id: uuid.UUID | None = None) -> Entitlements:
    """The org's entitlements as of the transaction's ``now()``; computed once per transaction.

    Reads through RLS: the org must be the session's current org, else ``OrgNotVisible``.
    """
    org_id = org_id or current_org(session)
    cached = known_entitlements(session, org_id)
    if cached is not None:
        return cached
    row = session.execute(
        _ENTITLEMENTS_SQL, {"org": org_id, **entitlements_params()}
    ).one_or_none()
    if row is None:
        raise OrgNotVisible(str(org_id))
    return remember_entitlements(session, org_id, row)


def known_entitlements(session: Session, org_id: uuid.UUID) -> Entitlements | None:
    """The transaction's copy of ``org_id``'s entitlements, if this transaction read them
    already (no statement): a caller that would read them may then leave them out."""
    cached = session.info.get(_CACHE_KEY)
    if (cached and cached[0] is session.get_transaction() and cached[1] == org_id
            and cached[3] is tenancy.context_of(session)):
        return cached[2]
    return None


def remember_entitlements(session: Session, org_id: uuid.UUID, row) -> Entitlements:
    """The entitlements from a row with ``ENTITLEMENTS_COLUMNS`` read in this transaction
    (or by a statement alone: ``tenancy.begin_with``) under RLS for ``org_id``, the current
    org as ``current_org`` gives it (the key the transaction's copy is found by); kept for
    the transaction like ``entitlements``."""
    facts = LicenseFacts(
        plan=row.plan,
        has_license=row.has_license,
        seats=row.seats,
        rate_limit_per_minute=row.rate_limit_per_minute,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
    )
    overrides = [
        OverrideFacts(o["feature"], o["enabled"], _timestamp(o["expires_at"]), o["reason"])
        for o in row.overrides
    ]
    plans_known, features_known = _catalogue_of(session, row)
    result = compute(org_id, facts, plans_known, features_known, overrides, row.now)
    # Kept for the transaction; or, read by a statement alone (``tenancy.begin_with``), while
    # no transaction is open and the context is the one it was read under.
    session.info[_CACHE_KEY] = (session.get_transaction(), org_id, result,
                                tenancy.context_of(session))
    return result


# The parsed catalogue by revision, shared by every request of this process: read it, never
# change it (``compute`` copies what it adjusts). A few revisions, so a request that sent
# the revision another thread has just replaced still finds its own.
_CATALOGUES_AT_MOST = 4
_catalogues: dict[str, tuple[dict[str, PlanInfo], tuple[FeatureInfo, ...]]] = {}
_known_revision: str | None = None  # the newest revision this process parsed
_catalogues_lock = threading.Lock()

_CATALOGUE_SQL = text(
    "SELECT cr.revision::text AS catalogue_revision,"
    f" (SELECT json_agg({_PLAN_JSON} ORDER BY p.key)::text FROM plans p) AS plans,"
    " (SELECT json_agg(json_build_array(x.key, x.name, x.description) ORDER BY x.key)::text"
    "    FROM features x) AS catalogue"
    " FROM catalogue_revision cr"
)


def entitlements_params() -> dict:
    """The parameters ``ENTITLEMENTS_COLUMNS`` needs (besides the org)."""
    return {"fallback": FALLBACK_PLAN, "catalogue_known": _known_revision}


def _catalogue_of(session: Session, row) -> tuple[dict[str, PlanInfo], tuple[FeatureInfo, ...]]:
    """(plans by key, features) as of the row's catalogue revision: parsed from the row when
    the statement sent them (this process held another revision), else this process's copy
    of that very revision."""
    global _known_revision
    if row.plans is None:
        known = _catalogues.get(row.catalogue_revision)
        if known is not None:
            return known
        # Dropped meanwhile (several catalogue changes during one request): read the
        # catalogue now, a snapshot at least as new as the row's (catalogue tables: no RLS).
        with session.get_bind().connect() as connection:
            row = connection.execute(_CATALOGUE_SQL).one()
    parsed = (_plans_from_json(json.loads(row.plans) if row.plans else []),
              _catalogue_from_json(json.loads(row.catalogue) if row.catalogue else []))
    with _catalogues_lock:  # rare (a catalogue change): threads of a worker take turns
        if len(_catalogues) >= _CATALOGUES_AT_MOST:
            del _catalogues[next(iter(_catalogues))]  # the oldest
        _catalogues[row.catalogue_revision] = parsed
        _known_revision = row.catalogue_revision
    return parsed


def _catalogue_from_json(rows) -> tuple[FeatureInfo, ...]:
    return tuple(FeatureInfo(*row) for row in rows)


def forget_entitlements(session: Session) -> None:
    session.info.pop(_CACHE_KEY, None)


@event.listens_for(Session, "after_begin")
def _forget_a_copy_read_alone(session: Session, transaction, connection) -> None:
    # A copy read by a statement alone holds only until the session's next transaction.
    cached = session.info.get(_CACHE_KEY)
    if cached and cached[0] is None:
        del session.info[_CACHE_KEY]


def has_feature(session: Session, key: Feature | str) -> bool:
    return entitlements(session).has(key)


def seat_limit(session: Session) -> int | None:
    """Seats the current org may fill; None means unlimited."""
    return entitlements(session).seat_limit


def seats_used(session: Session) -> int:
    """Members of the current org (every membership takes a seat)."""
    return session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.org_id == current_org(session))
    )


def rate_limit_per_minute(session: Session) -> int:
    return entitlements(session).rate_limit_per_minute


def quota(session: Session, metric: Metric | str) -> Quota:
    return entitlements(session).quota(metric)


# ------------------------------------------------------------------------------ current use
# The usage area registers a reader per metric: fn(session) -> current use in the quota's
# period, or None when unknown. Seats are read here.

UsageReader = Callable[[Session], int | None]
_USAGE_READERS: dict[str, UsageReader] = {Metric.SEATS.value: seats_used}


def register_usage_reader(metric: Metric | str, reader: UsageReader) -> None:
    _USAGE_READERS[Metric(metric).value] = reader


def current_usage(session: Session) -> dict[str, int | None]:
    return {m.value: (_USAGE_READERS[m](session) if m in _USAGE_READERS else None) for m in Metric}


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    role: str


def who_can_upgrade(session: Session) -> list[Contact]:
    """The current org's owners and admins: the people to ask for a feature."""
    rows = session.execute(
        select(User.name, User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == current_org(session), Membership.role.in_(("owner", "admin")))
        .order_by(Membership.role.desc(), User.name)
    )
    return [Contact(*row) for row in rows]


# ------------------------------------------------------------------------------ staff
# The runtime role cannot write licenses or overrides of any org (RLS policies say false and
# there is no grant). Staff changes go through SECURITY DEFINER functions that check
# app.user_id is active staff and write the org's audit row in the same transaction; see
# migration 0002_plans for why this is not done through a support grant.


@dataclass(frozen=True)
class OrgLicenseView:
    """What staff see about one org without entering it."""

    org_id: uuid.UUID
    slug: str
    name: str
    status: str
    seats_used: int
    license: LicenseFacts
    entitlements: Entitlements
    overrides: list[OverrideFacts]


def staff_view(session: Session, org_id: uuid.UUID) -> OrgLicenseView | None:
    """An org's license as staff see it; None if there is no such org. Raises NotStaff."""
    with _staff_call(session):
        row = session.execute(
            text("SELECT now() AS now, * FROM app_staff_org_license(:org)"), {"org": org_id}
        ).one_or_none()
        if row is None:
            return None
        overrides = [
            OverrideFacts(o.feature, o.enabled, o.expires_at, o.reason)
            for o in session.execute(
                text("SELECT * FROM app_staff_org_overrides(:org)"), {"org": org_id}
            )
        ]
    facts = LicenseFacts(
        plan=row.plan,
        has_license=row.valid_from is not None,
        seats=row.seats,
        rate_limit_per_minute=row.rate_limit,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
    )
    result = compute(
        org_id,
        facts,
        plans(session, [row.plan, FALLBACK_PLAN]),
        feature_catalogue(session),
        overrides,
        row.now,
    )
    return OrgLicenseView(
        org_id, row.slug, row.name, row.status, row.seats_used, facts, result, overrides
    )


def change_plan(
    session: Session,
    org_id: uuid.UUID,
    *,
    plan: str,
    reason: str,
    actor: Actor,
    seats: int | None = None,
    rate_limit_per_minute: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> None:
    """Put an org on ``plan`` with these license terms (None: the plan's own limits)."""
    if plan not in plans(session, [plan]):
        raise LicenseError("plan", "Choose one of the listed plans.")
    reason = _reason(reason)
    for field, value in (("seats", seats), ("rate_limit_per_minute", rate_limit_per_minute)):
        if value is not None and not 1 <= value <= 1_000_000:
            raise LicenseError(field, "Enter a whole number from 1 to 1,000,000, or leave empty.")
    if valid_from and valid_until and valid_until <= valid_from:
        raise LicenseError("valid_until", "The end must be after the start.")
    with _staff_call(session):
        session.execute(
            text(
                "SELECT app_staff_change_plan(:org, :plan, :seats, :rate, :from, :until,"
                " :reason, :ip, :ua)"
            ),
            {
                "org": org_id,
                "plan": plan,
                "seats": seats,
                "rate": rate_limit_per_minute,
                "from": valid_from,
                "until": valid_until,
                "reason": reason,
                **_client(actor),
            },
        )


def set_override(
    session: Session,
    org_id: uuid.UUID,
    *,
    feature: str,
    enabled: bool,
    reason: str,
    actor: Actor,
    expires_at: datetime | None = None,
) -> None:
    """Force a feature on or off for one org, until ``expires_at`` or until cleared."""
    feature = _feature(feature)
    reason = _reason(reason)
    now = session.scalar(text("SELECT now()"))
    if expires_at is not None and expires_at <= now:
        raise LicenseError("expires_at", "The expiry must be in the future.")
    with _staff_call(session):
        session.execute(
            text("SELECT app_staff_set_override(:org, :feature, :on, :until, :reason, :ip, :ua)"),
            {
                "org": org_id,
                "feature": feature,
                "on": enabled,
                "until": expires_at,
                "reason": reason,
                **_client(actor),
            },
        )


def clear_override(
    session: Session, org_id: uuid.UUID, *, feature: str, reason: str, actor: Actor
) -> bool:
    """Remove an override so the plan decides again. False if there was none."""
    feature = _feature(feature)
    reason = _reason(reason)
    with _staff_call(session):
        return bool(
            session.scalar(
                text("SELECT app_staff_clear_override(:org, :feature, :reason, :ip, :ua)"),
                {"org": org_id, "feature": feature, "reason": reason, **_client(actor)},
            )
        )


class OrgNotFound(LookupError):
    """No org with that id (staff functions only: tenants get a 404 from RLS instead)."""


@contextmanager
def _staff_call(session: Session) -> Iterator[None]:
    """Run staff SQL in a savepoint; turn the database's refusals into exceptions."""
    savepoint = session.begin_nested()
    try:
        yield
    except DBAPIError as exc:
        savepoint.rollback()
        code = getattr(exc.orig, "sqlstate", None)
        if code == "42501":  # insufficient_privilege: not (or no longer) active staff
            raise NotStaff() from exc
        if code == "P0002":  # no_data_found: no such org
            raise OrgNotFound() from exc
        raise
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    forget_entitlements(session)


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise LicenseError(
            "reason", "Give a reason of 3–500 characters (it goes to the audit log)."
        )
    return reason


def _feature(key: str) -> str:
    try:
        return Feature(key).value
    except ValueError:
        raise LicenseError("feature", "Choose one of the listed features.") from None


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _client(actor: Actor) -> dict:
    return {"ip": (actor.ip or "")[:64] or None, "ua": (actor.user_agent or "")[:300] or None}
