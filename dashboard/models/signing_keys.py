"""Keys that sign org-scoped access tokens (global: one issuer for every org)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(primary_key=True)
    alg: Mapped[str]
    private_key_enc: Mapped[bytes]  # encrypted; see dashboard/auth/signing_keys.py
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    retired_at: Mapped[datetime | None]
