"""Outgoing mail: SMTP URL parsing, the real SMTP path (aiosmtpd) and the local outbox."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import AuthResult

from dashboard.mail import Mail, Mailer, MailError, parse_smtp_url
from tests.mailserver import MailServer


def config(tmp_path, smtp_url=None):
    return {"INSTANCE_PATH": str(tmp_path), "MAIL_FROM": "Tenantdesk <no-reply@example.com>",
            "SMTP_URL": smtp_url}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.local", ("mail.local", 25, False, False, None, None)),
        ("smtp://relay:2525", ("relay", 2525, False, False, None, None)),
        ("smtp://u%40x:p%3Ass@smtp.example.com:587?starttls=1",
         ("smtp.example.com", 587, False, True, "u@x", "p:ss")),
        ("smtps://u:p@smtp.example.com", ("smtp.example.com", 465, True, False, "u", "p")),
    ],
)
def test_smtp_urls(url, expected):
    s = parse_smtp_url(url)
    assert (s.host, s.port, s.implicit_tls, s.starttls, s.username, s.password) == expected


@pytest.mark.parametrize("url", ["http://x", "smtp://", "mail.example.com:25"])
def test_bad_smtp_urls_are_refused(url):
    with pytest.raises(ValueError):
        parse_smtp_url(url)


def test_mail_goes_over_real_smtp(tmp_path, smtp_server):
    Mailer(config(tmp_path, smtp_server.url)).send(
        [Mail("ada-unit@example.com", "Hello", "plain body", html="<p>html body</p>"),
         Mail("bob-unit@example.com", "Second", "two")]
    )
    first = smtp_server.wait_for(to="ada-unit@example.com")
    assert smtp_server.wait_for(to="bob-unit@example.com")["Subject"] == "Second"
    assert first["Subject"] == "Hello" and first["From"] == "Tenantdesk <no-reply@example.com>"
    assert smtp_server.text_of(first).strip() == "plain body"
    assert first.get_body(("html",)).get_content().strip() == "<p>html body</p>"
    assert not (tmp_path / "outbox").exists()


class _LoginRequired(MailServer):
    """The shared test server, but it wants AUTH PLAIN mailer/s3cret (no TLS on loopback)."""

    def __init__(self) -> None:
        super().__init__()
        handler, controller_class = self._controller.handler, type(self._controller)
        self._controller = controller_class(
            handler, hostname="127.0.0.1", port=0, authenticator=self._check,
            auth_require_tls=False,
        )

    @staticmethod
    def _check(server, session, envelope, mechanism, data):
        ok = (data.login, data.password) == (b"mailer", b"s3cret")
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def test_smtp_login_with_credentials_from_the_url(tmp_path):
    server = _LoginRequired().start()
    try:
        Mailer(config(tmp_path, f"smtp://mailer:s3cret@127.0.0.1:{server.port}")).send(
            [Mail("ada@example.com", "Hi", "x")])
        assert server.wait_for(to="ada@example.com")["Subject"] == "Hi"
        with pytest.raises(MailError):
            Mailer(config(tmp_path, f"smtp://mailer:nope@127.0.0.1:{server.port}")).send(
                [Mail("ada@example.com", "Again", "x")])
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_unreachable_smtp_server_raises_mail_error(tmp_path):
    server = MailServer().start()
    port = server.port
    server.stop()  # nothing listens there now
    with pytest.raises(MailError):
        Mailer(config(tmp_path, f"smtp://127.0.0.1:{port}?timeout=2")).send(
            [Mail("ada@example.com", "Hi", "x")]
        )


@pytest.mark.parametrize("dev_mail", [True, False])
def test_without_smtp_url_mail_is_kept_in_the_outbox_and_logged(tmp_path, caplog, dev_mail):
    mailer = Mailer({**config(tmp_path), "DEV_MAIL_VIEWER": dev_mail})
    with caplog.at_level("INFO", logger="dashboard.mail"):
        mailer.send([Mail("ada@example.com", "Kept", "see https://example.com/x")])
    (name,) = mailer.outbox_names()
    message = mailer.read_outbox(name)
    assert message["To"] == "ada@example.com" and message["Subject"] == "Kept"
    assert "ada@example.com" in caplog.text
    # The body (links with tokens) reaches the log only in the development outbox mode.
    assert ("https://example.com/x" in caplog.text) is dev_mail


def test_outbox_reader_only_opens_its_own_files(tmp_path):
    mailer = Mailer(config(tmp_path))
    (tmp_path / "secret.eml").write_text("Subject: no\n\nnope")
    assert mailer.read_outbox("../secret.eml") is None
    assert mailer.read_outbox("secret.eml") is None
