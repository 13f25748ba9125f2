"""Custom domains (owners): claim, prove by DNS TXT, remove. No Flask here.

The proof is the SSO domains' (dashboard/sso/domains.py): ``tenantdesk-verification=<token>``
at ``_tenantdesk-challenge.<domain>``. A domain is served for its org only once verified,
and by one org only (``app_custom_domain_taken`` plus a unique index for the race).
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.hosts.resolve import normalized_suffix
from dashboard.models import CustomDomain
from dashboard.sso import domains as dns_proof

MAX_DOMAINS = 10


class DomainRefused(ValueError):
    """Bad input or a failed check; ``field`` names the form field. Nothing was stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def list_domains(db: Session) -> list[CustomDomain]:
    return list(db.scalars(select(CustomDomain).order_by(CustomDomain.domain)))


def _taken(db: Session, domain: str) -> bool:
    return bool(db.scalar(text("SELECT app_custom_domain_taken(:d)"), {"d": domain}))


def _installations_own(domain: str, installation_host: str, suffix: str) -> bool:
    """The installation's host and every <slug><suffix> are never an org's custom domain."""
    suffix = normalized_suffix(suffix)
    return domain == installation_host or bool(
        suffix and (domain.endswith(suffix) or domain == suffix[1:]))


def claim(db: Session, org_id: uuid.UUID, actor: Actor, value: str, *,
          installation_host: str, suffix: str) -> CustomDomain:
    if "@" in (value or ""):
        raise DomainRefused("domain", "Enter a host name such as login.example.com.")
    try:
        domain = dns_proof.normalize_domain(value)
        if _installations_own(domain, installation_host, suffix):
            raise dns_proof.DomainError("That host belongs to this installation; enter a "
                                        "domain of your own.")
        domain = dns_proof.claimable(db, CustomDomain, domain, limit=MAX_DOMAINS,
                                     taken=lambda d: _taken(db, d))
    except dns_proof.DomainError as exc:
        raise DomainRefused("domain", str(exc)) from exc
    row = CustomDomain(id=uuid.uuid4(), org_id=org_id, domain=domain,
                       token=secrets.token_urlsafe(24))
    db.add(row)
    db.flush()
    record_audit(db, org_id=org_id, actor=actor, action="host.domain_added",
                 target=f"host:{domain}")
    return row


def verify(db: Session, org_id: uuid.UUID, actor: Actor, domain_id: uuid.UUID,
           resolver) -> CustomDomain | None:
    """Look for the TXT record; None when the domain is not this org's (404)."""
    row = db.get(CustomDomain, (org_id, domain_id))
    if row is None or row.verified_at is not None:
        return row
    try:
        dns_proof.mark_verified(db, row, resolver, taken=lambda d: _taken(db, d))
    except dns_proof.DomainError as exc:
        raise DomainRefused("verify", str(exc)) from exc
    record_audit(db, org_id=org_id, actor=actor, action="host.domain_verified",
                 target=f"host:{row.domain}")
    return row


def delete(db: Session, org_id: uuid.UUID, actor: Actor, domain_id: uuid.UUID) -> bool:
    row = db.get(CustomDomain, (org_id, domain_id))
    if row is None:
        return False
    db.delete(row)
    db.flush()
    record_audit(db, org_id=org_id, actor=actor, action="host.domain_removed",
                 target=f"host:{row.domain}", before={"verified": row.verified_at is not None})
    return True
