"""SCIM directory sync: provisioned users (the org's view of a member), groups, the log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base, created_at, uuid_pk


class ScimUser(Base):
    __tablename__ = "scim_users"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    invitation_id: Mapped[uuid.UUID | None]
    user_name: Mapped[str]
    external_id: Mapped[str | None]
    email: Mapped[str | None]
    active: Mapped[bool] = mapped_column(server_default="true")
    role: Mapped[str | None]
    resource: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    version: Mapped[int] = mapped_column(server_default="1")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    deactivated_at: Mapped[datetime | None]


class ScimGroup(Base):
    __tablename__ = "scim_groups"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = uuid_pk()
    display_name: Mapped[str]
    external_id: Mapped[str | None]
    role: Mapped[str | None]  # the role this group maps to (set on the SCIM page)
    version: Mapped[int] = mapped_column(server_default="1")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ScimGroupMember(Base):
    __tablename__ = "scim_group_members"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "group_id"], ["scim_groups.org_id", "scim_groups.id"]),
        ForeignKeyConstraint(
            ["org_id", "scim_user_id"], ["scim_users.org_id", "scim_users.id"]
        ),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scim_user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    display: Mapped[str | None]


class ScimRequestLog(Base):
    __tablename__ = "scim_requests"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = uuid_pk()
    at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    credential_id: Mapped[uuid.UUID | None]
    method: Mapped[str]
    path: Mapped[str]
    status: Mapped[int]
    outcome: Mapped[str | None]
    duration_ms: Mapped[int | None]
