"""Suspend, reactivate, schedule and cancel deletion, and purge. No Flask here.

Status changes go through ``app_org_lifecycle`` (a SECURITY DEFINER function that checks the
caller is staff, the org's provider, or — for deletion — an owner, and writes the audit row in
the same transaction). Access is then cut by the RLS gate itself, not by checks in routes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.lifecycle import export

ACTIONS = ("suspend", "reactivate", "schedule_deletion", "cancel_deletion")


class LifecycleRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def change(
    session: Session,
    org_id: uuid.UUID,
    action: str,
    *,
    actor: str,
    reason: str = "",
    grace_days: int = 30,
) -> str:
    """Apply a lifecycle action; returns the org's new status."""
    if action not in ACTIONS:
        raise LifecycleRefused(f"Unknown action {action!r}.")
    try:
        with session.begin_nested():
            return session.scalar(
                text("SELECT app_org_lifecycle(:org, :action, :actor, :reason, :grace)"),
                {"org": org_id, "action": action, "actor": actor, "reason": reason,
                 "grace": grace_days},
            )
    except DBAPIError as exc:
        raise LifecycleRefused("You are not allowed to change this organization.") from exc


@dataclass(frozen=True)
class PurgeReport:
    org_id: uuid.UUID
    slug: str
    export_sha256: str
    counts: dict


def purge_due(factory, export_dir: Path) -> list[PurgeReport]:
    """Export then purge every org whose grace period is over. Idempotent and cron-safe."""
    reports = []
    with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
        due = list(session.execute(text("SELECT org_id, slug FROM app_due_deletions()")))
    for org_id, slug in due:
        with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
            credential = session.scalar(
                text("SELECT app_issue_export_credential(:org)"), {"org": org_id}
            )
        context = tenancy.TenantContext(org_id=org_id, credential_id=credential)
        with tenancy.scoped_session(factory, context) as session:
            # Lock the schedule row so two job runners never purge the same org twice.
            locked = session.scalar(
                text("SELECT pg_try_advisory_xact_lock(hashtext(:org))"), {"org": str(org_id)}
            )
            if not locked:
                continue
            result = export.write_export(session, org_id, export_dir / f"{org_id}.zip")
            counts = session.scalar(
                text("SELECT app_purge_org(:org, :sha, :file)"),
                {"org": org_id, "sha": result.sha256, "file": str(result.path)},
            )
        reports.append(PurgeReport(org_id, slug, result.sha256, counts))
    return reports
