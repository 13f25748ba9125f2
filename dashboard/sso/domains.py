"""Domain ownership through a DNS TXT record (dnspython), with a configurable resolver.
Shared by SSO (email) domains and custom hosts (dashboard/hosts/domains.py): the claim
checks, the proof and the race-safe "verified" mark are the same for both.

The org publishes ``tenantdesk-verification=<token>`` at ``_tenantdesk-challenge.<domain>``.
``DNS_RESOLVER`` ("127.0.0.1:5353", or several comma-separated) picks the servers asked;
empty means the system's resolver configuration.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime

import dns.exception
import dns.resolver
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

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
