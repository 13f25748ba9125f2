"""Organizations (tenants), their members and custom roles."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Text

from dashboard.models.base import Base, created_at, uuid_pk


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str]
    name: Mapped[str]
    status: Mapped[str] = mapped_column(server_default="active")
    plan: Mapped[str] = mapped_column(server_default="free")
    settings: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    staff_access_allowed: Mapped[bool] = mapped_column(server_default="true")
    delete_after: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class Membership(Base):
    __tablename__ = "memberships"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str]
    created_at: Mapped[datetime] = created_at()
    last_active_at: Mapped[datetime | None]
    # Copies of the person's name and email, set by a trigger from users (migration 0020):
    # the members list's order and search, served by an index inside the org.
    sort_name: Mapped[str] = mapped_column(server_default="")
    search_key: Mapped[str] = mapped_column(server_default="")
    # The person's name and email as shown, also set by that trigger (migration 0040): the
    # members page reads only the org's memberships, never users through its policy.
    person_name: Mapped[str] = mapped_column(server_default="")
    person_email: Mapped[str] = mapped_column(server_default="")


class MemberCount(Base):
    """Members per (org, role), kept by a trigger on memberships; the app only reads it."""

    __tablename__ = "member_counts"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    role: Mapped[str] = mapped_column(primary_key=True)
    members: Mapped[int]


class CustomRole(Base):
    __tablename__ = "roles"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    key: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    permissions: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    created_at: Mapped[datetime] = created_at()
