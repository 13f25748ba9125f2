"""Certificate expiry mail: owners hear 30 and 7 days before their IdP's SAML signing
certificate expires (each warning once per certificate), and the operator's log says when
our own SP certificate is due for `tenantdesk rotate-saml-sp-key`. No Flask here; run by
`tenantdesk jobs run` with the owner role (it reads across orgs through two definer
functions that only the owner role may call)."""

from __future__ import annotations

import logging
import time

from sqlalchemy import text

from dashboard.mail import Mail
from dashboard.sso import saml

log = logging.getLogger(__name__)

WARN_DAYS = (30, 7)


def _threshold(days_left: int) -> int | None:
    """The tightest warning a certificate with ``days_left`` is due for."""
    due = [days for days in WARN_DAYS if days_left <= days]
    return min(due) if due else None


def warn_expiring(owner_connection, mailer, base_url: str, now: float | None = None) -> int:
    """Mail owners about IdP certificates entering a warning window; returns mails sent."""
    now = now or time.time()
    mails = []
    rows = owner_connection.execute(text("SELECT * FROM app_sso_saml_certificates()")).all()
    for row in rows:
        for cert in row.certs:
            summary = saml.certificate_summary(cert, now)
            days = _threshold(summary["days_left"])
            if days is None or not owner_connection.scalar(
                    text("SELECT app_sso_note_cert_warning(:o, :c, :s, :d)"),
                    {"o": row.org_id, "c": row.connection_id, "s": summary["sha256"],
                     "d": days}):
                continue
            for email in row.owner_emails:
                mails.append(Mail(
                    to=email,
                    subject=f"{row.org_name}: your identity provider's SAML certificate "
                            f"expires on {summary['not_after']}",
                    text=(f"The signing certificate of {row.org_name}'s single sign-on "
                          f"connection ({summary['subject']}, SHA-256 {summary['sha256']}) "
                          f"expires on {summary['not_after']} ({max(summary['days_left'], 0)} "
                          "days). Sign-ins through it fail after that.\n\nAdd the identity "
                          "provider's new certificate before then: paste its updated "
                          "metadata on the SSO page; both certificates are accepted during "
                          f"the overlap.\n\n{base_url.rstrip('/')}/login\n"),
                ))
    mailer.send(mails)
    return len(mails)


def note_our_certificate(sp_certificate: str | None, now: float | None = None) -> None:
    if not sp_certificate:
        return
    summary = saml.certificate_summary(sp_certificate, now)
    if summary["expiring"]:
        log.warning("our SAML SP certificate expires on %s: run `tenantdesk rotate-saml-sp-key`"
                    " twice (publish, then activate) before then", summary["not_after"])


def run_job(app) -> int:
    """The periodic job: needs the owner role's URL (it reads across orgs); skipped with a
    log line where the process has only the runtime role."""
    from sqlalchemy import create_engine

    from dashboard import tenancy
    from dashboard.sso import crypto, sp_keys

    database = app.extensions["tenantdesk.db"]
    with tenancy.scoped_session(database.sessionmaker, tenancy.NOBODY) as session:
        sp = sp_keys.sp_config(session, crypto.key_from_config(app.config),
                               app.config["BASE_URL"], "installation", create=False)
    note_our_certificate(sp.signing.certificate if sp.signing else None)
    owner_url = getattr(database.urls, "owner", None)
    if not owner_url:
        log.info("no owner database URL in this process: certificate expiry mail skipped")
        return 0
    engine = create_engine(owner_url)
    try:
        with engine.begin() as owner:
            return warn_expiring(owner, app.extensions["tenantdesk.mail"],
                                 app.config["BASE_URL"])
    finally:
        engine.dispose()
