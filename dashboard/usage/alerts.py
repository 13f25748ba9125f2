"""The e-mail the org's owners and admins get when usage reaches 80 % of a quota. No Flask.

Sent at most once per org, metric and quota period (``usage_alerts`` remembers), queued on
the session so it leaves only if the transaction that recorded the usage commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.licenses import service as licenses
from dashboard.mail import Mail
from dashboard.models import Organization
from dashboard.usage import quotas
from dashboard.usage.metrics import METRICS, format_value
from dashboard.usage.service import QuotaStatus


def quota_warning_mails(
    session: Session, org_id: uuid.UUID, status: QuotaStatus, base_url: str
) -> list[Mail]:
    org = session.execute(
        select(Organization.name, Organization.slug).where(Organization.id == org_id)
    ).one_or_none()
    if org is None:
        return []
    metric = METRICS[status.metric]
    scope = {"month": "this month", "day": "today"}.get(status.period, "now")
    used, limit = format_value(metric, status.used), format_value(metric, status.limit)
    if status.exceeded and status.hard and status.period != "current" and \
            metric.per_period.value == "sum":
        consequence = "Further requests are refused until the quota resets."
    elif status.hard:
        consequence = "Past the quota, further usage may be refused."
    else:
        consequence = "This is a soft limit: usage past it is still recorded."
    resets = f" The quota resets on {status.resets_on.isoformat()} (UTC)." \
        if status.resets_on else ""
    subject = f"{org.name}: {metric.label} at {status.percent:.0f} % of the plan's quota"
    text = (
        f"{org.name} has used {used} of its {limit} {metric.label.lower()} ({scope}), "
        f"{status.percent:.0f} % of the plan's quota.\n\n{consequence}{resets}\n\n"
        f"Usage: {base_url.rstrip('/')}/o/{org.slug}/usage\n"
        f"Plan: {base_url.rstrip('/')}/o/{org.slug}/plan\n\n"
        f"You get this because you are an owner or admin of {org.name}. It is sent once per "
        f"quota period at {quotas.WARN_AT_PERCENT} %."
    )
    return [Mail(to=c.email, subject=subject, text=text) for c in licenses.who_can_upgrade(session)]
