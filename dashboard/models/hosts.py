"""An org's own hosts and looks (dashboard/hosts): verified custom domains and branding."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base, created_at


class CustomDomain(Base):
    __tablename__ = "custom_domains"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    domain: Mapped[str]
    token: Mapped[str]  # published in the domain's DNS TXT record
    verified_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class OrgBranding(Base):
    __tablename__ = "org_branding"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    display_name: Mapped[str | None]
    primary_color: Mapped[str | None]  # '#rrggbb', passed the WCAG AA check when saved
    support_contact: Mapped[str | None]
    white_label: Mapped[bool] = mapped_column(default=False)
    logo: Mapped[bytes | None]  # a PNG we encoded ourselves (dashboard/hosts/logo.py)
    logo_sha256: Mapped[str | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
