"""Plans (global catalogue) and each org's license and feature overrides (tenant, read-only
for the app: changes go through the audited staff functions in migration 0002_plans)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, func
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base


class FeatureDefinition(Base):
    __tablename__ = "features"

    key: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    description: Mapped[str]


class Plan(Base):
    __tablename__ = "plans"

    key: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    position: Mapped[int]
    rate_limit_per_minute: Mapped[int]


class PlanFeature(Base):
    __tablename__ = "plan_features"

    plan: Mapped[str] = mapped_column(ForeignKey("plans.key"), primary_key=True)
    feature: Mapped[str] = mapped_column(ForeignKey("features.key"), primary_key=True)


class PlanQuota(Base):
    __tablename__ = "plan_quotas"

    plan: Mapped[str] = mapped_column(ForeignKey("plans.key"), primary_key=True)
    metric: Mapped[str] = mapped_column(primary_key=True)
    quota: Mapped[int | None]  # None: unlimited
    hard: Mapped[bool]
    period: Mapped[str]  # 'day' | 'month' | 'current'


class License(Base):
    __tablename__ = "licenses"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    plan: Mapped[str]
    seats: Mapped[int | None]
    rate_limit_per_minute: Mapped[int | None]
    valid_from: Mapped[datetime] = mapped_column(server_default=func.now())
    valid_until: Mapped[datetime | None]
    updated_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class FeatureOverride(Base):
    __tablename__ = "feature_overrides"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    feature: Mapped[str] = mapped_column(ForeignKey("features.key"))
    enabled: Mapped[bool]
    expires_at: Mapped[datetime | None]
    reason: Mapped[str]
    set_by: Mapped[uuid.UUID | None]
    set_at: Mapped[datetime] = mapped_column(server_default=func.now())
