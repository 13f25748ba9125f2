"""Usage metering: raw events and the per-day rollups the charts read."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, func
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import Base


class UsageEvent(Base):
    """One reported event; (org_id, idempotency_key) is unique, so a retry is a no-op."""

    __tablename__ = "usage_events"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    metric: Mapped[str]
    quantity: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime]
    idempotency_key: Mapped[str]
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class UsageDaily(Base):
    """One metric's total for one UTC day (sum for counters, peak for gauges)."""

    __tablename__ = "usage_daily"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger)


class UsageAlert(Base):
    """A quota warning that went out: at most one per org, metric, period and threshold."""

    __tablename__ = "usage_alerts"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(primary_key=True)
    threshold: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
