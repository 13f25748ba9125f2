"""What an org may use right now, computed from plain facts. No database, no Flask.

``compute`` is a pure function of the plan catalogue, the org's license, its overrides and
the database's ``now()``, so the same rules serve the tenant's own pages, the staff view and
the tests, and nothing depends on when a process started.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dashboard.licenses.features import FALLBACK_PLAN, Feature, Metric

# ------------------------------------------------------------------------------ input facts


@dataclass(frozen=True)
class FeatureInfo:
    key: str
    name: str
    description: str


@dataclass(frozen=True)
class Quota:
    metric: str
    limit: int | None  # None: unlimited
    hard: bool  # hard: refuse past the limit; soft: allow and warn
    period: str  # 'day' | 'month' | 'current'

    @property
    def unlimited(self) -> bool:
        return self.limit is None


@dataclass(frozen=True)
class PlanInfo:
    key: str
    name: str
    rate_limit_per_minute: int
    features: frozenset[str]
    quotas: Mapping[str, Quota]


@dataclass(frozen=True)
class LicenseFacts:
    """The org's plan on record and, when it has a license row, that row's terms."""

    plan: str
    has_license: bool = False
    seats: int | None = None
    rate_limit_per_minute: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class OverrideFacts:
    feature: str
    enabled: bool
    expires_at: datetime | None
    reason: str


# ------------------------------------------------------------------------------ the result

ACTIVE, NO_END, EXPIRED, PENDING = "active", "none", "expired", "pending"


@dataclass(frozen=True)
class FeatureState:
    key: str
    name: str
    description: str
    enabled: bool
    source: str  # 'plan' | 'override' | 'not-in-plan' | 'license-inactive'
    plan_name: str  # the plan that decides when no override applies
    until: datetime | None = None  # an override's expiry
    reason: str | None = None  # an override's reason

    @property
    def why(self) -> str:
        return self.explained()

    def explained(self, vendor: str = "Tenantdesk") -> str:
        """Why the feature is on or off; ``vendor`` names who turned it on or off by hand
        (pages pass the brand's: a white-labelled org never reads "Tenantdesk")."""
        if self.source == "override":
            verb = "Turned on" if self.enabled else "Turned off"
            until = f" until {_when(self.until)}" if self.until else ""
            return f"{verb} for your organization by {vendor}{until}"
        if self.source == "plan":
            return f"Included in the {self.plan_name} plan"
        if self.source == "license-inactive":
            return f"Included in {self.plan_name}, but the license is not active"
        return f"Not included in the {self.plan_name} plan"


@dataclass(frozen=True)
class Entitlements:
    org_id: uuid.UUID
    plan: str  # the plan on record
    plan_name: str
    effective_plan: str  # FALLBACK_PLAN while the license is expired or not yet valid
    effective_plan_name: str
    license_state: str  # ACTIVE | NO_END (no license row) | EXPIRED | PENDING
    valid_from: datetime | None
    valid_until: datetime | None
    features: Mapping[str, FeatureState]
    seat_limit: int | None  # None: unlimited
    rate_limit_per_minute: int
    quotas: Mapping[str, Quota]
    as_of: datetime
    _enabled: frozenset[str] = field(default=frozenset(), repr=False)

    def has(self, key: str) -> bool:
        """Whether the org has ``key`` now. An unknown key is a bug, not a 'no'."""
        return Feature(key).value in self._enabled

    def quota(self, metric: str) -> Quota:
        return self.quotas[Metric(metric).value]

    @property
    def license_active(self) -> bool:
        return self.license_state in (ACTIVE, NO_END)

    @property
    def banner(self) -> str | None:
        """The notice every page of the org shows while the license is not active."""
        if self.license_state == EXPIRED:
            return (
                f"Your {self.plan_name} license ended on {_when(self.valid_until)}. "
                f"Until it is renewed, the {self.effective_plan_name} plan's features and "
                "limits apply. All your data is still here."
            )
        if self.license_state == PENDING:
            return (
                f"Your {self.plan_name} license starts on {_when(self.valid_from)}. "
                f"Until then, the {self.effective_plan_name} plan's features and limits apply."
            )
        return None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%-d %b %Y, %H:%M UTC") if moment else ""


# ------------------------------------------------------------------------------ the rules


def license_state(facts: LicenseFacts, now: datetime) -> str:
    if not facts.has_license:
        return NO_END
    if facts.valid_from is not None and facts.valid_from > now:
        return PENDING
    if facts.valid_until is not None and facts.valid_until <= now:
        return EXPIRED
    return ACTIVE


def compute(
    org_id: uuid.UUID,
    facts: LicenseFacts,
    plans: Mapping[str, PlanInfo],
    catalogue: Iterable[FeatureInfo],
    overrides: Iterable[OverrideFacts],
    now: datetime,
) -> Entitlements:
    state = license_state(facts, now)
    on_record = plans[facts.plan]
    active = state in (ACTIVE, NO_END)
    effective = on_record if active else plans[FALLBACK_PLAN]
    live = {
        o.feature: o for o in overrides if o.expires_at is None or o.expires_at > now
    }

    features: dict[str, FeatureState] = {}
    for info in sorted(catalogue, key=_feature_order):
        override = live.get(info.key)
        if override is not None:
            state_of = FeatureState(
                info.key, info.name, info.description, override.enabled, "override",
                effective.name, override.expires_at, override.reason,
            )
        elif info.key in effective.features:
            state_of = FeatureState(
                info.key, info.name, info.description, True, "plan", effective.name
            )
        elif info.key in on_record.features:  # in the plan bought, but the license lapsed
            state_of = FeatureState(
                info.key, info.name, info.description, False, "license-inactive",
                on_record.name,
            )
        else:
            state_of = FeatureState(
                info.key, info.name, info.description, False, "not-in-plan", effective.name
            )
        features[info.key] = state_of

    plan_seats = effective.quotas[Metric.SEATS].limit
    seat_limit = facts.seats if active and facts.seats is not None else plan_seats
    rate_limit = (
        facts.rate_limit_per_minute
        if active and facts.rate_limit_per_minute is not None
        else effective.rate_limit_per_minute
    )
    quotas = dict(effective.quotas)
    seats = quotas[Metric.SEATS]
    quotas[Metric.SEATS.value] = Quota(seats.metric, seat_limit, seats.hard, seats.period)

    return Entitlements(
        org_id=org_id,
        plan=on_record.key,
        plan_name=on_record.name,
        effective_plan=effective.key,
        effective_plan_name=effective.name,
        license_state=state,
        valid_from=facts.valid_from,
        valid_until=facts.valid_until,
        features=features,
        seat_limit=seat_limit,
        rate_limit_per_minute=rate_limit,
        quotas=quotas,
        as_of=now,
        _enabled=frozenset(k for k, f in features.items() if f.enabled),
    )


# The code's order of the features, made once (it was rebuilt for each feature of each
# request's entitlements); a feature the database knows and this code does not yet goes last.
_ORDER = {feature.value: n for n, feature in enumerate(Feature)}


def _feature_order(info: FeatureInfo) -> tuple[int, str]:
    return (_ORDER.get(info.key, len(_ORDER)), info.key)

