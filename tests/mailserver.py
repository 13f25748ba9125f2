"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives.

Use the ``smtp_server`` fixture from tests/conftest.py; the app gets
``SMTP_URL = smtp_server.url`` (``smtp://127.0.0.1:<port>``). Tests wait for a mail instead
of sleeping::

    message = smtp_server.wait_for(to="ada@example.com")
    link = smtp_server.first_link(message)
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage

from aiosmtpd.controller import Controller

_LINK = re.compile(r"https?://[^\s<>\"']+")


class _Collector:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.inbox.add(message, envelope.rcpt_tos)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def _trigger_server(self):
        # Bound to port 0: learn the real port before aiosmtpd connects to itself.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Inbox:
    """What the server received, in order; safe to read from the test thread."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._changed = threading.Condition()

    def add(self, message: EmailMessage, recipients: list[str]) -> None:
        message["X-Envelope-To"] = ", ".join(recipients)
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(
        self,
        to: str | None = None,
        where: Callable[[EmailMessage], bool] | None = None,
        timeout: float = 10.0,
    ) -> EmailMessage:
        """The first message to ``to`` (envelope or header) matching ``where``; waits for it."""

        def matches(message: EmailMessage) -> bool:
            if to is not None:
                addresses = f"{message['X-Envelope-To']} {message['To']}".lower()
                if to.lower() not in addresses:
                    return False
            return where is None or where(message)

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((m for m in self.messages if matches(m)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m["To"], m["Subject"]) for m in self.messages]
                    raise AssertionError(f"no mail to {to!r} within {timeout}s; got {seen}")
                self._changed.wait(left)

    @staticmethod
    def text_of(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""

    def first_link(self, message: EmailMessage, containing: str = "") -> str:
        links = [u for u in _LINK.findall(self.text_of(message)) if containing in u]
        assert links, f"no link containing {containing!r} in mail {message['Subject']!r}"
        return links[0].rstrip(".,;)")


class MailServer(Inbox):
    def __init__(self) -> None:
        super().__init__()
        self._controller = _Controller(_Collector(self), hostname="127.0.0.1", port=0)

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"
