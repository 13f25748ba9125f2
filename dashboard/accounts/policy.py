"""Per-org security policy: require MFA, session age and idle limits, joining by domain.

Stored in ``organizations.settings`` (under RLS: an org's policy is read and written only in
that org's context, so org A's policy never applies in org B)::

    {"security": {"require_mfa": true, "mfa_on_sso": false,
                  "max_session_hours": 12, "idle_minutes": 30},
     "domain_join": false, "domain_join_role": "member"}

The principal loader reads ``settings->'security'`` in its one query, so enforcing it costs
no extra round trip. No Flask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dashboard.models import Organization

JOIN_ROLES = ("member", "guest", "admin")


@dataclass(frozen=True)
class SecurityPolicy:
    require_mfa: bool = False
    mfa_on_sso: bool = False  # an SSO login alone does not count as MFA
    max_session_hours: int | None = None
    idle_minutes: int | None = None

    @classmethod
    def from_json(cls, data: Mapping | None) -> SecurityPolicy:
        data = data or {}

        def positive(key):
            value = data.get(key)
            return int(value) if isinstance(value, int) and value > 0 else None

        return cls(
            require_mfa=data.get("require_mfa") is True,
            mfa_on_sso=data.get("mfa_on_sso") is True,
            max_session_hours=positive("max_session_hours"),
            idle_minutes=positive("idle_minutes"),
        )


@dataclass(frozen=True)
class OrgSecurity:
    policy: SecurityPolicy
    domain_join: bool
    domain_join_role: str


def session_end_reason(
    security: Mapping | None, age_seconds, idle_seconds, config: Mapping
) -> str | None:
    """Why a session must end now, or None. The stricter of the installation's and the
    active org's limits applies (the installation's idle limit is already in the query)."""
    policy = SecurityPolicy.from_json(security)
    max_age = config["SESSION_MAX_AGE_HOURS"] * 3600
    if policy.max_session_hours:
        max_age = min(max_age, policy.max_session_hours * 3600)
    if age_seconds is not None and float(age_seconds) > max_age:
        return "session too old"
    if policy.idle_minutes and idle_seconds is not None and (
        float(idle_seconds) > policy.idle_minutes * 60
    ):
        return "idle timeout"
    return None


def mfa_missing(security: Mapping | None, auth_method: str, mfa_method: str | None) -> bool:
    """Does the org require a second factor this session has not shown?

    An SSO session counts as the IdP's authentication unless the org also requires MFA on
    SSO; a break-glass or password session needs its own second factor."""
    policy = SecurityPolicy.from_json(security)
    if not policy.require_mfa or mfa_method:
        return False
    return not (auth_method == "sso" and not policy.mfa_on_sso)


def load(session: Session) -> OrgSecurity:
    """The current org's policy (RLS: the context's org only)."""
    settings = session.scalar(select(Organization.settings)) or {}
    role = settings.get("domain_join_role")
    return OrgSecurity(
        policy=SecurityPolicy.from_json(settings.get("security")),
        domain_join=settings.get("domain_join") is True,
        domain_join_role=role if role in JOIN_ROLES else "member",
    )


def save(session: Session, org_id, new: OrgSecurity) -> tuple[dict, dict]:
    """Store the policy of the current org; returns (before, after) for the audit log."""
    org = session.scalar(
        select(Organization).where(Organization.id == org_id).with_for_update()
    )
    settings = dict(org.settings or {})
    before = {"security": settings.get("security") or {},
              "domain_join": settings.get("domain_join") is True,
              "domain_join_role": settings.get("domain_join_role") or "member"}
    policy = {k: v for k, v in asdict(new.policy).items() if v not in (None, False)}
    settings.update(security=policy, domain_join=new.domain_join,
                    domain_join_role=new.domain_join_role)
    session.execute(update(Organization).where(Organization.id == org_id)
                    .values(settings=settings))
    after = {"security": policy, "domain_join": new.domain_join,
             "domain_join_role": new.domain_join_role}
    return before, after
