"""Test harness: a real PostgreSQL (embedded by default, DATABASE_URL when set).

Each run creates a throwaway database on that server, creates Tenantdesk's roles, applies the
migrations as the owner role, and points the app at it as the runtime role. Factories write as
a superuser (bypassing RLS) so a test can set up any state; the app under test never does.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tempfile
import warnings

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from dashboard import migrate, provisioning

TEST_PASSWORD = "correct horse battery staple"


def _admin_server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return provisioning.start_embedded(tempfile.mkdtemp(prefix="tenantdesk-test-"))


@pytest.fixture(scope="session")
def database_urls() -> provisioning.DatabaseUrls:
    admin = _admin_server_url()
    name = f"tenantdesk_test_{secrets.token_hex(4)}"
    urls = provisioning.bootstrap(admin, name)
    migrate.upgrade(urls.owner)
    bouncer = None
    if os.environ.get("DATABASE_POOLER") == "pgbouncer":
        # The PgBouncer CI stage: the app's runtime role goes through a real PgBouncer in
        # transaction pooling mode (create_app reads DATABASE_POOLER itself).
        from tests import pgbouncer

        if not pgbouncer.available():
            pytest.exit(pgbouncer.INSTALL_HINT, returncode=1)
        bouncer = pgbouncer.PgBouncer(admin).start()
        urls = dataclasses.replace(urls, runtime=bouncer.via(urls.runtime))
    yield urls
    if bouncer is not None:
        bouncer.stop()
    provisioning.drop_database(admin, name)
    provisioning.drop_database(admin, f"{name}_dedicated")  # tests/tiers.py, if one was made


@pytest.fixture(scope="session")
def pgbouncer(database_urls):
    """Debian's PgBouncer in transaction pooling mode in front of the test database server
    (tests/pgbouncer.py); ``pgbouncer.via(url)`` goes through it."""
    from tests import pgbouncer as bouncers

    if not bouncers.available():
        pytest.skip(bouncers.INSTALL_HINT)
    bouncer = bouncers.PgBouncer(database_urls.admin).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="session")
def admin_engine(database_urls):
    """A superuser on the test database: sees through RLS. For setup and for checking."""
    engine = create_engine(database_urls.admin, pool_size=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def admin_sessions(admin_engine):
    return sessionmaker(admin_engine, expire_on_commit=False)


def make_app(database_urls, tmp_dir, **overrides):
    from dashboard import create_app

    config = {
        "TESTING": True,
        "DATABASE_URLS": database_urls,
        "INSTANCE_PATH": str(tmp_dir),
        "SECRET_KEY": secrets.token_hex(16),
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "DB_POOL_SIZE": 4,
        # Every test signs in from 127.0.0.1; per-email throttling is what tests exercise.
        "LOGIN_MAX_FAILURES_PER_IP": 100000,
        # Every test app shares the database, so they share the key that seals signing keys.
        "TOKEN_KEY_SECRET": "test-token-key-secret",
        # ... and the key that seals the SAML SP key pair (and OIDC client secrets).
        "SSO_ENCRYPTION_KEY": "dGVzdC1zc28tZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
        # SSO tests run their IdPs, OpenID providers and metadata servers on 127.0.0.1.
        "ALLOW_PRIVATE_METADATA_URLS": True,
        "SSO_FETCH_TIMEOUT": 2.0,
        # Domain checks ask a loopback port nobody answers unless a test starts its stub DNS
        # (tests/support/dns_stub.py): no test ever queries the real DNS.
        "DNS_RESOLVER": "127.0.0.1:9",
        "DNS_TIMEOUT": 0.3,
        # Every test signs in from 127.0.0.1: per-address request limits out of the way
        # (the tests of those limits set their own).
        "LOGIN_RATE_LIMIT": "100000/minute",
        "INVITE_ACCEPT_RATE_LIMIT": "100000/minute",
        "PASSWORD_RESET_RATE_LIMIT": "100000/minute",
        "SIGNUP_RATE_LIMIT": "100000/minute",
        "MFA_RATE_LIMIT": "100000/minute",
        "SSO_RATE_LIMIT_PER_IP": "100000/minute",
        "SSO_RATE_LIMIT_PER_CONNECTION": "100000/minute",
        # Test OpenID providers come and go on reused ports: no discovery cache between tests
        # (the test of the cache turns it on).
        "OIDC_CACHE_SECONDS": 0,
        # Events: receivers run on 127.0.0.1; retries are scaled down (5 s -> 50 ms) and
        # leases short, so a killed worker's claim comes back within seconds.
        "ALLOW_PRIVATE_EVENT_URLS": True,
        "EVENTS_RETRY_SCALE": 0.01,
        "EVENTS_HTTP_TIMEOUT": 2.0,
        "EVENTS_LEASE_SECONDS": 4.0,
        "EVENTS_POLL_SECONDS": 0.05,
        "JOBS_INTERVAL_SECONDS": 0,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def app(database_urls, tmp_path_factory):
    app = make_app(database_urls, tmp_path_factory.mktemp("instance"))
    yield app
    app.extensions["tenantdesk.db"].dispose()


@pytest.fixture(scope="session", autouse=True)
def _factories_use_admin(admin_sessions, app):
    from dashboard.apikeys import tokens
    from tests import factories

    factories.bind(admin_sessions, app.extensions["tenantdesk.passwords"].hash(TEST_PASSWORD))
    factories.set_api_key_hmac(
        tokens.server_key(app.config.get("API_KEY_HMAC_KEY"), app.config["SECRET_KEY"])
    )


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server on loopback that keeps what it receives (tests/mailserver.py)."""
    from tests.mailserver import MailServer

    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server(database_urls, tmp_path_factory, smtp_server):
    """The app on a real threaded WSGI server on 127.0.0.1 (tests/live_server.py).

    Its own app instance, so BASE_URL is the real address and mail goes to ``smtp_server``.
    ``live_server.url`` is the base URL; ``live_server("/login")`` an absolute URL.
    """
    from tests.live_server import LiveServer

    instance = tmp_path_factory.mktemp("live-instance")
    server = LiveServer().start(
        lambda url: make_app(database_urls, instance, BASE_URL=url, SMTP_URL=smtp_server.url)
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver():
    """A webhook and audit stream receiver on loopback for the module's tests
    (tests/support/receiver.py)."""
    from tests.support.receiver import Receiver

    with Receiver() as server:
        yield server


@pytest.fixture
def runtime_sessions(app):
    """Sessions of the runtime role: what the app itself gets (subject to RLS)."""
    return app.extensions["tenantdesk.db"].sessionmaker



class _InboxSince:
    """``smtp_server``'s messages received since a test began (the server is session-wide)."""

    def __init__(self, server) -> None:
        self.server = server
        self._start = len(server.messages)

    @property
    def messages(self) -> list:
        return self.server.messages[self._start:]

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"].lower() == address.lower()]

    def last(self, *, to: str):
        found = self.to(to)
        assert found, f"no mail to {to}; got mail to {[m['To'] for m in self.messages]}"
        return found[-1]

    def text(self, message) -> str:
        return self.server.text_of(message)

    def links(self, message) -> list[str]:
        from tests.mailserver import _LINK

        return [link.rstrip(".,;)") for link in _LINK.findall(self.text(message))]


@pytest.fixture
def mail_server(app, smtp_server):
    """The session ``app`` sends over real SMTP to ``smtp_server`` for this test only.

    Mail is sent in the request (after its commit), so it is already here when the test
    client returns: ``mail_server.last(to=...)``, ``mail_server.links(message)``.
    """
    previous = app.config.get("SMTP_URL")
    app.config["SMTP_URL"] = smtp_server.url
    yield _InboxSince(smtp_server)
    app.config["SMTP_URL"] = previous
