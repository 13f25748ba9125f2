"""What a page or mail looks like for an org: name, logo, colour, support contact, whether it
says "Tenantdesk" at all, and the base URL of its links.

The branding applies only while the org's plan includes it: the license facts come from the
host look-up (anonymous sign-in page) or from the RLS-scoped entitlements (signed in), and
both go through ``licenses.entitlements.compute``, the one place plans turn into features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.hosts.resolve import HostOrg, normalized_suffix
from dashboard.licenses import service as licenses
from dashboard.licenses.entitlements import LicenseFacts, OverrideFacts, compute
from dashboard.licenses.features import FALLBACK_PLAN, Feature
from dashboard.models import CustomDomain, OrgBranding

PRODUCT = "Tenantdesk"
BRAND_FEATURES = (Feature.BRANDING, Feature.WHITE_LABEL)


@dataclass(frozen=True)
class Brand:
    product: str = PRODUCT  # the name pages and mails sign with
    org_name: str | None = None  # the org's display name (None: the installation)
    logo_sha256: str | None = None
    primary_color: str | None = None  # '#rrggbb', AA-contrasting with white text
    support_contact: str | None = None
    white_label: bool = False

    @property
    def vendor(self) -> str:
        """Who runs the service ("Tenantdesk staff"); not named under white label."""
        return "your service provider" if self.white_label else PRODUCT

    @property
    def support_is_email(self) -> bool:
        return bool(self.support_contact and "@" in self.support_contact
                    and "://" not in self.support_contact)


INSTALLATION = Brand()


def from_branding(org_name: str, branding: dict | None, enabled: frozenset[str]) -> Brand:
    """The brand an org's settings give, as far as its plan allows."""
    if not branding or Feature.BRANDING not in enabled:
        return Brand(org_name=org_name)
    shown = branding.get("display_name") or org_name
    white = bool(branding.get("white_label")) and Feature.WHITE_LABEL in enabled
    return Brand(
        product=shown if white else PRODUCT,
        org_name=shown,
        logo_sha256=branding.get("logo_sha256"),
        primary_color=branding.get("primary_color"),
        support_contact=branding.get("support_contact"),
        white_label=white,
    )


def _moment(value) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def host_features(db: Session, host: HostOrg) -> frozenset[str]:
    """Which of the branding features the host's org has now (no tenant context needed)."""
    facts = host.license
    plan = facts.get("plan") or FALLBACK_PLAN
    plans = licenses.plans(db, [plan, FALLBACK_PLAN])
    if plan not in plans:
        return frozenset()
    result = compute(
        host.org_id,
        LicenseFacts(plan=plan, has_license=bool(facts.get("has_license")), seats=None,
                     rate_limit_per_minute=None, valid_from=_moment(facts.get("valid_from")),
                     valid_until=_moment(facts.get("valid_until"))),
        plans,
        licenses.feature_catalogue(db),
        [OverrideFacts(o["feature"], o["enabled"], _moment(o.get("expires_at")), None)
         for o in facts.get("overrides") or []],
        _moment(facts.get("now")),  # the database's clock, read with the host
    )
    return frozenset(k for k in BRAND_FEATURES if result.has(k))


def branding_row(db: Session, org_id) -> OrgBranding | None:
    """The org's branding under RLS (the session must act for that org)."""
    return db.get(OrgBranding, org_id)


def as_dict(row: OrgBranding | None) -> dict:
    if row is None:
        return {}
    return {"display_name": row.display_name, "primary_color": row.primary_color,
            "support_contact": row.support_contact, "logo_sha256": row.logo_sha256,
            "white_label": row.white_label}


# ------------------------------------------------------------------------------ base URLs


def org_base_url(config, slug: str, custom_domain: str | None = None) -> str:
    """Where an org's links point: its verified custom domain, else ``<slug><suffix>``, else
    the installation's ``BASE_URL``. Scheme and port follow ``BASE_URL``."""
    base = config["BASE_URL"].rstrip("/")
    suffix = normalized_suffix(config.get("TENANT_HOST_SUFFIX"))
    host = custom_domain or (f"{slug}{suffix}" if suffix else None)
    if host is None:
        return base
    parts = urlsplit(base)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def verified_domain(db: Session) -> str | None:
    """The current org's first verified custom domain (RLS picks the org)."""
    return db.scalar(
        select(CustomDomain.domain).where(CustomDomain.verified_at.is_not(None))
        .order_by(CustomDomain.verified_at, CustomDomain.domain).limit(1)
    )
