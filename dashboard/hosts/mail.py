"""How an org's mails look and where their links point: the org's brand (as far as its plan
allows) and its own host (verified custom domain, else ``<slug><suffix>``, else BASE_URL)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, has_request_context
from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.hosts import brand as brands
from dashboard.licenses import service as licenses
from dashboard.models import Organization


@dataclass(frozen=True)
class MailBrand:
    brand: brands.Brand
    base_url: str

    @property
    def product(self) -> str:
        return self.brand.product

    @property
    def on_product(self) -> str:
        """' on Tenantdesk', or nothing under white label ('join Acme', not 'Acme on Acme')."""
        return "" if self.brand.white_label else f" on {self.brand.product}"

    @property
    def signature(self) -> str:
        return f"\n\n-- \n{self.brand.org_name if self.brand.white_label else self.product}"

    def link(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    @property
    def logo_url(self) -> str | None:
        """The logo as the org's host serves it to anyone (None without an org host: the
        installation's host serves it to signed-in members only)."""
        if not self.brand.logo_sha256 or self.base_url == _installation_base():
            return None
        return self.link(f"/branding/logo/{self.brand.logo_sha256}.png")


def _installation_base() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def installation() -> MailBrand:
    return MailBrand(brands.INSTALLATION, _installation_base())


def for_request() -> MailBrand:
    """A person's own mail asked for on this host (password reset, sign-up, notices)."""
    from dashboard.hosts import current_brand, current_host

    host = current_host() if has_request_context() else None
    if host is None:
        return installation()
    return MailBrand(current_brand(), host.base_url)


def for_org(db: Session) -> MailBrand:
    """Mail of the session's current org (invitations): read under its RLS context."""
    from dashboard.hosts import current_host

    org_id = tenancy.context_of(db).org_id
    org = db.get(Organization, org_id) if org_id is not None else None
    if org is None:
        return installation()
    try:
        entitlements = licenses.entitlements(db)
    except licenses.OrgNotVisible:
        return installation()
    enabled = frozenset(k for k in brands.BRAND_FEATURES if entitlements.has(k))
    row = brands.branding_row(db, org.id) if enabled else None
    brand = brands.from_branding(org.name, brands.as_dict(row), enabled)
    host = current_host() if has_request_context() else None
    if host is not None and host.org_id == org.id:
        return MailBrand(brand, host.base_url)
    base = brands.org_base_url(current_app.config, org.slug, brands.verified_domain(db))
    return MailBrand(brand, base)
