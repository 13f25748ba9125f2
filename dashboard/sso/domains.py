"""Domain ownership through a DNS TXT record (dnspython), with a configurable resolver.
Shared by SSO (email) domains and custom hosts (dashboard/hosts/domains.py): the claim
checks, the proof, the race-safe "verified" mark and the claim / verify / remove steps with
their audit rows are the same for both; each names its table once (``DomainTable``).

The org publishes ``tenantdesk-verification=<token>`` at ``_tenantdesk-challenge.<domain>``.
``DNS_RESOLVER`` ("127.0.0.1:5353", or several comma-separated) picks the servers asked;
empty means the system's resolver configuration.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import dns.exception
import dns.resolver
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit

CHALLENGE_LABEL = "_tenantdesk-challenge"
TAKEN = "Another organization has verified this domain."
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class DomainError(ValueError):
    """Not a domain an org can claim; the message is a form error."""


class DnsUnavailable(Exception):
    """Timeout or SERVFAIL: try again later (not the same as 'no record')."""


def normalize_domain(text: str) -> str:
    domain = (text or "").strip().lower().rstrip(".")
    if "@" in domain:
        domain = domain.rsplit("@", 1)[1]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise DomainError("That is not a valid domain name.") from exc
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise DomainError("Enter a domain such as example.com.")
    if labels[-1].isdigit():
        raise DomainError("Enter a domain name, not an IP address.")
    return domain


def challenge(domain: str, token: str) -> tuple[str, str]:
    """(record name, record value) the org must publish."""
    return f"{CHALLENGE_LABEL}.{domain}", f"tenantdesk-verification={token}"


def _server(item: str) -> tuple[str, int | None]:
    """'1.2.3.4', '1.2.3.4:5353', '::1' or '[::1]:5353' -> (address, port or None)."""
    item = item.strip()
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if item.count(":") == 1:
        host, port = item.split(":")
        return host, int(port)
    return item, None


def make_resolver(spec: str | None, timeout: float = 3.0) -> dns.resolver.Resolver:
    if spec:
        resolver = dns.resolver.Resolver(configure=False)  # ignore /etc/resolv.conf
        servers = [_server(item) for item in spec.split(",") if item.strip()]
        resolver.nameservers = [host for host, _ in servers]
        resolver.port = next((port for _, port in servers if port), 53)
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


def txt_values(name: str, resolver: dns.resolver.Resolver) -> list[str]:
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise DnsUnavailable(str(exc)) from exc
    # A record longer than 255 bytes arrives as several strings: join them.
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def has_proof(domain: str, token: str, resolver: dns.resolver.Resolver) -> bool:
    name, expected = challenge(domain, token)
    return any(hmac.compare_digest(v.strip(), expected) for v in txt_values(name, resolver))


def require_proof(domain: str, token: str, resolver: dns.resolver.Resolver) -> None:
    """Raise DomainError (a message for the person) unless the TXT record is published.
    Shared by SSO domains and custom hosts (dashboard/hosts/domains.py)."""
    try:
        proven = has_proof(domain, token, resolver)
    except DnsUnavailable as exc:
        raise DomainError("DNS did not answer in time. Try again shortly.") from exc
    if not proven:
        name, value = challenge(domain, token)
        raise DomainError(f"No TXT record {value!r} found at {name} yet. DNS changes can "
                          "take a while to appear.")


def claimable(db, model, value: str, *, taken: Callable[[str], bool], limit: int) -> str:
    """``value`` normalized, if the session's org may claim it in ``model`` (a table of
    ``domain`` rows under RLS); DomainError with the reason otherwise."""
    domain = normalize_domain(value)
    if taken(domain):
        raise DomainError(TAKEN)
    if db.scalar(select(model).where(model.domain == domain)):
        raise DomainError("This organization has already claimed that domain.")
    if db.scalar(select(func.count()).select_from(model)) >= limit:
        raise DomainError(f"At most {limit} domains per organization.")
    return domain


def mark_verified(db, row, resolver: dns.resolver.Resolver, *,
                  taken: Callable[[str], bool]) -> None:
    """Prove ``row.domain`` by its TXT record and mark it verified; DomainError otherwise.
    A unique index on verified domains closes the race of two orgs verifying at once."""
    row.last_checked_at = datetime.now(UTC)
    require_proof(row.domain, row.token, resolver)
    if taken(row.domain):
        raise DomainError(TAKEN)
    try:
        with db.begin_nested():
            row.verified_at = datetime.now(UTC)
            db.flush()
    except IntegrityError as exc:  # another org verified it at the same moment
        raise DomainError(TAKEN) from exc


# ------------------------------------------------------------- claim, verify, remove


@dataclass(frozen=True)
class DomainTable:
    """One kind of claimed domain: its table (under RLS), the definer check that another org
    verified the name, how many an org may claim, its audit target and actions, and the
    area's own error (``refused(field, message)``: "domain" or "verify")."""

    model: type
    taken_sql: str  # "SELECT app_..._taken(:d)": verified by an org other than the current
    limit: int
    target: str  # audit target prefix: "<target>:<domain>"
    claimed: str  # audit actions
    verified: str
    removed: str
    refused: Callable[[str, str], Exception]

    def taken(self, db: Session, domain: str) -> bool:
        return bool(db.scalar(text(self.taken_sql), {"d": domain}))


def listed(db: Session, table: DomainTable) -> list[tuple]:
    """The org's domains by name, each with the TXT record it must publish:
    ``(row, record name, record value)``."""
    rows = db.scalars(select(table.model).order_by(table.model.domain))
    return [(row, *challenge(row.domain, row.token)) for row in rows]


def claim(db: Session, table: DomainTable, org_id: uuid.UUID, actor: Actor, value: str):
    """A new pending row for ``value``; ``table.refused("domain", why)``, nothing stored."""
    try:
        domain = claimable(db, table.model, value, limit=table.limit,
                           taken=lambda d: table.taken(db, d))
    except DomainError as exc:
        raise table.refused("domain", str(exc)) from exc
    row = table.model(id=uuid.uuid4(), org_id=org_id, domain=domain,
                      token=secrets.token_urlsafe(24))
    db.add(row)
    db.flush()
    record_audit(db, org_id=org_id, actor=actor, action=table.claimed,
                 target=f"{table.target}:{domain}")
    return row


def verify(db: Session, table: DomainTable, org_id: uuid.UUID, actor: Actor,
           domain_id: uuid.UUID, resolver):
    """Look for the TXT record (``table.refused("verify", why)`` when it is not there); None
    when the domain is not this org's (404). A verified row is returned as it is."""
    row = db.get(table.model, (org_id, domain_id))
    if row is None or row.verified_at is not None:
        return row
    try:
        mark_verified(db, row, resolver, taken=lambda d: table.taken(db, d))
    except DomainError as exc:
        raise table.refused("verify", str(exc)) from exc
    record_audit(db, org_id=org_id, actor=actor, action=table.verified,
                 target=f"{table.target}:{row.domain}")
    return row


def delete(db: Session, table: DomainTable, org_id: uuid.UUID, actor: Actor,
           domain_id: uuid.UUID) -> bool:
    row = db.get(table.model, (org_id, domain_id))
    if row is None:
        return False
    db.delete(row)
    db.flush()
    record_audit(db, org_id=org_id, actor=actor, action=table.removed,
                 target=f"{table.target}:{row.domain}",
                 before={"verified": row.verified_at is not None})
    return True
