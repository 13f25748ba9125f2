"""Outgoing mail: real SMTP when ``SMTP_URL`` is set, otherwise a local outbox (instance/outbox).

``SMTP_URL`` forms::

    smtp://host:25                      plain SMTP (a local relay)
    smtp://user:pass@host:587?starttls=1  STARTTLS, then log in
    smtps://user:pass@host:465          TLS from the first byte

With no ``SMTP_URL`` each message is written to ``instance/outbox/*.eml`` and logged, and in
development/demo mode (``DEV_MAIL_VIEWER``) it is readable at ``/dev/mail`` (dashboard/devmail.py).

Mail that belongs to a database change is queued on the SQLAlchemy session with
``send_after_commit``: it leaves only once that transaction has committed, and a rolled-back
request sends nothing (no invitation link that points at a row which never existed).
No Flask here: the mailer reads a config mapping (``app.config`` in the app).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_QUEUE_KEY = "tenantdesk.outgoing_mail"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0


class MailError(RuntimeError):
    """SMTP refused or could not be reached."""


def parse_smtp_url(url: str) -> SmtpSettings:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://host:port or smtps://user:pass@host:465")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=not implicit and query.get("starttls", "").lower() in _TRUE,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=float(query.get("timeout", "10")),
    )


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip("> ") or None)
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    return message


class Mailer:
    """Sends through SMTP or keeps mail in the outbox, per the config at send time."""

    def __init__(self, config: Mapping) -> None:
        self._config = config

    @property
    def outbox(self) -> Path:
        return Path(self._config["INSTANCE_PATH"]) / "outbox"

    def send(self, mails: Iterable[Mail]) -> None:
        messages = [build_message(m, self._config["MAIL_FROM"]) for m in mails]
        if not messages:
            return
        url = self._config.get("SMTP_URL")
        if url:
            self._smtp(parse_smtp_url(url), messages)
        else:
            for message in messages:
                self._keep(message)

    def _smtp(self, settings: SmtpSettings, messages: list[EmailMessage]) -> None:
        context = ssl.create_default_context()
        client_class = smtplib.SMTP_SSL if settings.implicit_tls else smtplib.SMTP
        kwargs = {"context": context} if settings.implicit_tls else {}
        try:
            with client_class(settings.host, settings.port, timeout=settings.timeout,
                              **kwargs) as client:
                if settings.starttls:
                    client.starttls(context=context)
                if settings.username:
                    client.login(settings.username, settings.password or "")
                for message in messages:  # one connection for a whole batch
                    client.send_message(message)
                    log.info("mail sent to %s: %s", message["To"], message["Subject"])
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"could not send mail via {settings.host}:{settings.port}") from exc

    def _keep(self, message: EmailMessage) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(message.as_bytes(policy=policy.SMTP))
        body = message.get_body(("plain",))
        # The body holds links with tokens (invitations, resets): in the log only for the
        # development outbox (TENANTDESK_DEV_MAIL=1, as under `make run`), never otherwise.
        shown = body.get_content() if body and self._config.get("DEV_MAIL_VIEWER") else ""
        log.info(
            "no SMTP_URL: mail to %s kept in %s\nSubject: %s\n%s",
            message["To"], path, message["Subject"], shown,
        )

    # ---------------------------------------------------------------- outbox reading (dev)

    def outbox_names(self, limit: int = 200) -> list[str]:
        if not self.outbox.is_dir():
            return []
        return sorted((p.name for p in self.outbox.glob("*.eml")), reverse=True)[:limit]

    def read_outbox(self, name: str) -> EmailMessage | None:
        # Only names we wrote ourselves; never a path from the request.
        if name not in self.outbox_names(limit=10_000):
            return None
        with (self.outbox / name).open("rb") as handle:
            return BytesParser(policy=policy.default).parse(handle)


# ------------------------------------------------------------------ send after commit


def send_after_commit(session: Session, mailer: Mailer, mails: Iterable[Mail]) -> None:
    """Queue mail on ``session``; it is sent when the session's transaction commits."""
    session.info.setdefault(_QUEUE_KEY, []).append((mailer, list(mails)))


@event.listens_for(Session, "after_commit")
def _send_queued(session: Session) -> None:
    for mailer, mails in session.info.pop(_QUEUE_KEY, []):
        try:
            mailer.send(mails)
        except MailError:
            # The change is committed; the sender can resend from the pending list.
            log.exception("mail delivery failed for %d message(s)", len(mails))


@event.listens_for(Session, "after_rollback")
def _drop_queued(session: Session) -> None:
    session.info.pop(_QUEUE_KEY, None)


def init_app(app) -> None:
    app.extensions["tenantdesk.mail"] = Mailer(app.config)
    if not app.config.get("SMTP_URL") and not app.config.get("TESTING"):
        log.warning("SMTP_URL is not set: outgoing mail is kept in %s", Mailer(app.config).outbox)
