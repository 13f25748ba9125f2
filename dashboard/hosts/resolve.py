"""Which org a request's host belongs to: the one place, before the principal is loaded.

- the installation's own host (``BASE_URL``'s), an IP address, a bare name such as
  ``localhost``, or any host that is no org's: the installation's pages (``None``);
- ``<slug><TENANT_HOST_SUFFIX>`` (``acme.localhost``): that org, while it is active;
- a custom domain an org has verified (``login.acme.com``): that org.

The look-up is the definer function ``app_host_org`` (id, slug, name, SSO button, password
rule, branding, license facts); nothing else of any org is read before the principal.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.orm import Session

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_HOST_CHARS = re.compile(r"^[a-z0-9.:-]{0,253}$")  # names, IPv4, IPv6 (brackets removed)
_LOOKUP = text(
    "SELECT org_id, slug, name, connection_id, require_sso, owner_break_glass, branding,"
    " license FROM app_host_org(:slug, :domain)"
)


@dataclass(frozen=True)
class HostOrg:
    """The org a host serves, as the host step sees it (no tenant rows)."""

    org_id: uuid.UUID
    slug: str
    name: str
    via: str  # "suffix" or "custom-domain"
    base_url: str  # scheme://host[:port] this request came in on
    connection_id: uuid.UUID | None = None  # the org's enabled SSO connection
    require_sso: bool = False
    owner_break_glass: bool = True
    branding: dict = field(default_factory=dict)
    license: dict = field(default_factory=dict)
    domain_id: uuid.UUID | None = None  # the verified custom domain row (None: suffix host)

    @property
    def binding(self) -> str:
        """What a session used on this host is bound to (``hosts.bind_session``): the custom
        domain's row (removed or un-verified, it is gone; claimed again, a new row), or the
        slug host's name."""
        return f"d:{self.domain_id}" if self.domain_id else f"s:{self.slug}"

    @property
    def password_allowed(self) -> bool:
        return not (self.connection_id and self.require_sso)


@dataclass(frozen=True)
class HostName:
    """What a host name could name: an org slug under the suffix, or a custom domain."""

    slug: str | None = None
    domain: str | None = None


def host_and_port(host_header: str) -> tuple[str, int | None]:
    """'Acme.LOCALHOST:5000' -> ('acme.localhost', 5000); ('', None) for something that is
    not a plain host[:port] (userinfo, a bad port, odd characters)."""
    header = host_header or ""
    if "@" in header or "/" in header or "\\" in header:
        return "", None
    try:
        parts = urlsplit("//" + header)
        port = parts.port
    except ValueError:
        return "", None
    name = (parts.hostname or "").rstrip(".").lower()
    if not _HOST_CHARS.match(name):
        return "", None
    return name, port


def hostname_of(host_header: str) -> str:
    return host_and_port(host_header)[0]


def normalized_suffix(suffix: str | None) -> str:
    suffix = (suffix or "").strip().lower().rstrip(".")
    if suffix and not suffix.startswith("."):
        suffix = "." + suffix
    return suffix


def classify(hostname: str, installation_host: str, suffix: str) -> HostName | None:
    """None: the installation's pages, without asking the database."""
    if not hostname or hostname == installation_host or "." not in hostname:
        return None
    try:
        ipaddress.ip_address(hostname)
        return None
    except ValueError:
        pass
    if suffix and hostname.endswith(suffix):
        label = hostname[: -len(suffix)]
        return HostName(slug=label) if SLUG.match(label) else None
    return HostName(domain=hostname)


def look_up(db: Session, name: HostName, base_url: str) -> HostOrg | None:
    row = db.execute(_LOOKUP, {"slug": name.slug, "domain": name.domain}).one_or_none()
    if row is None:
        return None
    branding = dict(row.branding or {})
    domain_id = branding.pop("host_domain_id", None)  # migration 0035: not a branding fact
    return HostOrg(
        org_id=row.org_id, slug=row.slug, name=row.name,
        via="suffix" if name.slug else "custom-domain", base_url=base_url,
        connection_id=row.connection_id, require_sso=row.require_sso,
        owner_break_glass=row.owner_break_glass, branding=branding,
        license=row.license or {}, domain_id=uuid.UUID(domain_id) if domain_id else None,
    )


def installation_host(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "").lower()
