"""Partner rules: idempotent provisioning, listing, updates, suspension, deletion. No Flask.

Every call runs with ``TenantContext(provider_id=...)``; the database gate lets a provider
reach only the orgs it provisioned, so a provider never sees another provider's orgs.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.audit.service import Actor
from dashboard.lifecycle import service as lifecycle
from dashboard.metadata import service as metadata_service
from dashboard.partner.credentials import Provider
from dashboard.partner.schemas import ProvisionRequest, UpdateRequest

KNOWN_PLANS_FALLBACK = ("free", "starter", "growth", "scale", "enterprise")


class PartnerError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class PartnerOrg:
    id: uuid.UUID
    external_id: str
    slug: str
    name: str
    status: str
    plan: str
    delete_after: datetime | None
    created_at: datetime
    metadata: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        data = asdict(self)
        data["id"] = str(self.id)
        data["active"] = self.status == "active"
        for key in ("delete_after", "created_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def request_hash(body: ProvisionRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def known_plans(session: Session) -> set[str]:
    has_table = session.scalar(text("SELECT to_regclass('public.plans') IS NOT NULL"))
    if has_table:
        return set(session.scalars(text("SELECT key FROM plans")))
    return set(KNOWN_PLANS_FALLBACK)


def _check_plan(session: Session, plan: str | None) -> None:
    if plan is not None and plan not in known_plans(session):
        raise PartnerError(422, "unknown_plan", f"Unknown plan {plan!r}.")


def list_orgs(session: Session, metadata_filter: tuple[str, str] | None = None
              ) -> list[PartnerOrg]:
    """The provider's orgs, each with its metadata; with a filter, only orgs whose metadata
    has that key with exactly that value (never another provider's: the functions read the
    calling provider's orgs only)."""
    key, value = metadata_filter or (None, None)
    metadata: dict[uuid.UUID, dict] = {}
    for row in session.execute(text("SELECT * FROM app_provider_metadata(:k, :v)"),
                               {"k": key, "v": value}):
        metadata.setdefault(row.org_id, {})[row.key] = row.value
    orgs = [PartnerOrg(*row, metadata=metadata.get(row[0], {}))
            for row in session.execute(text("SELECT * FROM app_provider_orgs()"))]
    return [o for o in orgs if o.id in metadata] if metadata_filter else orgs


def set_metadata(session: Session, provider: Provider, org_id: uuid.UUID, slug: str,
                 values: dict[str, str]) -> None:
    """Replace the org's metadata (the session acts for that org); audited when changed."""
    metadata_service.replace_org_metadata(
        session, org_id, values, actor=Actor(label=f"provider:{provider.name}"),
        target=f"org:{slug}",
    )


def get_org(session: Session, org_id: uuid.UUID) -> PartnerOrg:
    for org in list_orgs(session):
        if org.id == org_id:
            return org
    raise PartnerError(404, "not_found", "No such organization.")


def provision(
    session: Session,
    provider: Provider,
    external_id: str,
    body: ProvisionRequest,
    new_org_id: uuid.UUID,
) -> tuple[PartnerOrg, bool]:
    """Create the org once per (provider, external id); same body again returns the same org.

    ``new_org_id`` is the id a new org gets; the caller's transaction must already run with
    ``context_for(provider, new_org_id)`` so the rest of provisioning happens in it.
    """
    _check_plan(session, body.plan)
    try:
        with session.begin_nested():
            org_id, created = session.execute(
                text("SELECT * FROM app_partner_provision(:org, :ext, :hash, :name, :slug,"
                     " :plan, CAST(:settings AS jsonb))"),
                {"org": new_org_id, "ext": external_id, "hash": request_hash(body),
                 "name": body.name,
                 "slug": body.slug, "plan": body.plan, "settings": json.dumps(body.settings)},
            ).one()
    except IntegrityError as exc:
        if "different request" in str(exc.orig):
            raise PartnerError(
                409, "conflict",
                f"External id {external_id!r} was already provisioned with a different body.",
            ) from exc
        raise PartnerError(409, "slug_taken", f"The slug {body.slug!r} is taken.") from exc
    if created and body.metadata:
        set_metadata(session, provider, org_id, body.slug, body.metadata)
    return get_org(session, org_id), created


def update_org(
    session: Session, provider: Provider, org_id: uuid.UUID, body: UpdateRequest
) -> PartnerOrg:
    org = get_org(session, org_id)
    _check_plan(session, body.plan)
    # Act for the org itself from here (the gate admits its provider): metadata rows are
    # tenant rows. Nothing was written yet, so switching context commits nothing.
    tenancy.bind(session, context_for(provider, org.id))
    actor = f"provider:{provider.name}"
    if body.name is not None or body.plan is not None:
        session.execute(
            text("SELECT app_partner_update_org(:org, :name, :plan, :actor)"),
            {"org": org.id, "name": body.name, "plan": body.plan, "actor": actor},
        )
    if body.metadata is not None:
        set_metadata(session, provider, org.id, org.slug, body.metadata)
    if body.active is not None and body.active != (org.status == "active"):
        lifecycle.change(session, org.id, "reactivate" if body.active else "suspend",
                         actor=actor, reason="partner API")
    return get_org(session, org_id)


def schedule_deletion(session: Session, provider: Provider, org_id: uuid.UUID) -> PartnerOrg:
    org = get_org(session, org_id)
    try:
        lifecycle.change(session, org.id, "schedule_deletion", actor=f"provider:{provider.name}",
                         reason="partner API", grace_days=provider.grace_days)
    except lifecycle.LifecycleRefused as exc:
        raise PartnerError(404, "not_found", "No such organization.") from exc
    return get_org(session, org_id)


def forget_old_provision_responses(session: Session, older_than_hours: int = 24) -> int:
    """Drop replayable provisioning responses (they hold an API key) once retries are over."""
    return session.execute(
        text("UPDATE provider_orgs SET response_ciphertext = NULL"
             " WHERE response_ciphertext IS NOT NULL"
             " AND created_at < now() - make_interval(hours => :h)"),
        {"h": older_than_hours},
    ).rowcount


def context_for(provider: Provider, org_id: uuid.UUID | None = None) -> tenancy.TenantContext:
    return tenancy.TenantContext(provider_id=provider.id, org_id=org_id)


__all__ = ["DBAPIError", "PartnerError", "context_for", "get_org", "list_orgs", "provision"]
