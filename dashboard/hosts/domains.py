"""Custom domains (owners): claim, prove by DNS TXT, remove. No Flask here.

The proof is the SSO domains' (dashboard/sso/domains.py): ``tenantdesk-verification=<token>``
at ``_tenantdesk-challenge.<domain>``. A domain is served for its org only once verified,
and by one org only (``app_custom_domain_taken`` plus a unique index for the race).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from dashboard.audit.service import Actor
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


TABLE = dns_proof.DomainTable(
    CustomDomain, "SELECT app_custom_domain_taken(:d)", limit=MAX_DOMAINS, target="host",
    claimed="host.domain_added", verified="host.domain_verified",
    removed="host.domain_removed", refused=DomainRefused)


def listed(db: Session) -> list[tuple]:
    """``(row, TXT record name, TXT record value)`` of the org's custom domains."""
    return dns_proof.listed(db, TABLE)


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
    except dns_proof.DomainError as exc:
        raise DomainRefused("domain", str(exc)) from exc
    if _installations_own(domain, installation_host, suffix):
        raise DomainRefused("domain", "That host belongs to this installation; enter a "
                                      "domain of your own.")
    return dns_proof.claim(db, TABLE, org_id, actor, domain)


def verify(db: Session, org_id: uuid.UUID, actor: Actor, domain_id: uuid.UUID,
           resolver) -> CustomDomain | None:
    """Look for the TXT record; None when the domain is not this org's (404)."""
    return dns_proof.verify(db, TABLE, org_id, actor, domain_id, resolver)


def delete(db: Session, org_id: uuid.UUID, actor: Actor, domain_id: uuid.UUID) -> bool:
    return dns_proof.delete(db, TABLE, org_id, actor, domain_id)
