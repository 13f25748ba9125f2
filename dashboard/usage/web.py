"""Flask glue shared by usage routes and by other blueprints (home panel, API metering)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from functools import wraps

from flask import current_app, g, has_app_context, make_response, url_for
from markupsafe import Markup

from dashboard import mail, tenancy
from dashboard.errors import json_error
from dashboard.permissions import Permission, can
from dashboard.usage import alerts, charts, reports, service
from dashboard.usage.metrics import HOME_METRICS, format_value


@service.on_quota_warning
def _mail_admins(session, org_id: uuid.UUID, status: service.QuotaStatus) -> None:
    """Queue the 80 % e-mail to the org's owners and admins (sent after commit)."""
    if not has_app_context():
        return  # a script or job outside the app: the banner still shows
    mailer = current_app.extensions.get("tenantdesk.mail")
    if mailer is None:
        return
    from dashboard.hosts import mail as hosts_mail

    base_url = hosts_mail.for_org(session).base_url  # the org's own host when it has one
    mails = alerts.quota_warning_mails(session, org_id, status, base_url)
    mail.send_after_commit(session, mailer, mails)


def current_org_id() -> uuid.UUID | None:
    """The org the request acts for: the browser session's, or (API keys) the RLS context's."""
    membership = g.get("membership")
    if membership is not None:
        return membership.org_id
    org_id = tenancy.context_of(tenancy.request_session()).org_id
    return uuid.UUID(str(org_id)) if org_id else None


def quota_exceeded_response(exc: service.QuotaExceeded):
    body, status = json_error(429, "quota_exceeded", str(exc))
    resets_on = exc.status.resets_on
    body["error"].update(
        {"metric": exc.status.metric, "limit": exc.status.limit, "used": exc.status.used,
         "period": exc.status.period, "resets_on": resets_on and resets_on.isoformat()}
    )
    response = make_response(body, status)
    if resets_on:
        reset = datetime.combine(resets_on, time(), UTC)
        seconds = int((reset - datetime.now(UTC)).total_seconds())
        response.headers["Retry-After"] = str(max(1, seconds))
    return response


def metered(view):
    """Count each successful call of an API route as one ``api_calls`` event.

    Past a hard api_calls quota the call answers 429 and, since a 4xx rolls the request's
    transaction back, whatever the view did is undone. Routes that record usage themselves
    (the ingestion endpoint) put the call into their own batch instead, so that all rollup
    rows of a request are locked in one ordered statement.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        org_id = current_org_id()
        if response.status_code >= 400 or org_id is None:
            return response
        try:
            service.record_batch(
                tenancy.request_session(), org_id, [service.api_call_event()]
            )
        except service.QuotaExceeded as exc:
            return quota_exceeded_response(exc)
        return response

    return wrapper


_HOME_SECTION = "usage/partials/home.html"


def home_rollups() -> reports.RollupRead | None:
    """What the org home's usage section reads (handed to the home's own statement, which
    may carry it), or None when the viewer may not see usage."""
    org_id = current_org_id()
    if org_id is None or not can(Permission.USAGE_VIEW):
        return None
    return _home_read(org_id)


def home_rollups_for(org_id: uuid.UUID, permissions: frozenset[str]) -> reports.RollupRead | None:
    """``home_rollups`` for a viewer with ``permissions`` in ``org_id``, before the session
    check has run (the home's read riding in it: orgs/home_read.py)."""
    if Permission.USAGE_VIEW.value not in permissions:
        return None
    return _home_read(org_id)


def _home_read(org_id: uuid.UUID) -> reports.RollupRead:
    return reports.RollupRead(org_id, 30, reports.today_utc(), HOME_METRICS)


def home_panel(rollups: reports.RollupRead | None) -> Markup | None:
    """The org home's usage section (quota warnings, sparklines of the main metrics) from
    ``home_rollups()``'s read, or None if not allowed.

    Written once per report and kept with it (``report.memo``, as the usage page's charts:
    a report served from the revision cache brings it along). It depends only on the report
    (the org's, read under RLS this request) and on its links, which are the key; nothing
    about the viewer is in it (USAGE_VIEW is checked by ``home_rollups``, every request).
    """
    if rollups is None:
        return None
    session = tenancy.request_session()
    rollups.read(session)  # unless the home's statement carried it
    report = rollups.report(session)
    key = (url_for("usage.index"), url_for("static", filename="css/usage.css"))
    kept = report.memo.get("home")
    if kept is not None and kept[0] == key:
        return kept[1]
    section = render_home_panel(report)
    report.memo["home"] = (key, section)
    return section


def render_home_panel(report: reports.UsageReport) -> Markup:
    context = {"usage_home": {
        "report": report,
        "sparks": {m.metric.name: charts.sparkline(m) for m in report.metrics},
        "format": format_value,
    }}
    # The bare template: it needs none of the page's context processors.
    return Markup(current_app.jinja_env.get_template(_HOME_SECTION).render(context))  # noqa: S704
