"""Settings from environment variables, with safe defaults.

Only this module reads ``os.environ``; everything else asks ``app.config``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _instance_path() -> Path:
    return Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()


def _persistent_secret(instance: Path, name: str) -> str:
    """A random secret kept under instance/ so restarts keep sessions valid."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


_WILDCARD_HOSTS = {"0.0.0.0", "::", ""}  # noqa: S104 - compared, never bound


def served_url(host: str, port: str | int) -> str:
    """The http URL of a local server on host:port (a wildcard host reads as loopback)."""
    host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _list(value: str | None) -> list[str]:
    return [item for item in (value or "").split(",") if item]


def _reader():
    """``env(name, default)``: the environment first, then ``.env`` (python-dotenv) in the
    working directory, or the file named by ``TENANTDESK_ENV_FILE``."""
    from dotenv import dotenv_values

    path = Path(os.environ.get("TENANTDESK_ENV_FILE", ".env"))
    from_file = dotenv_values(path) if path.is_file() else {}

    def env(name: str, default: str | None = None) -> str | None:
        value = os.environ.get(name)
        if value is None:
            value = from_file.get(name)
        return default if value is None else value

    return env


def operator_secret_key() -> str | None:
    """SECRET_KEY as the operator set it (environment or .env), None when unset."""
    return _reader()("SECRET_KEY") or None


def from_environment() -> dict:
    instance = _instance_path()
    env = _reader()
    proxy_hops = env("TRUSTED_PROXY_HOPS")
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": env("SECRET_KEY") or _persistent_secret(instance, "secret_key"),
        # Old SECRET_KEYs (comma-separated) still accepted for browser tokens, so rotating
        # SECRET_KEY logs nobody out.
        "SECRET_KEY_FALLBACKS": [k for k in (env("SECRET_KEY_FALLBACKS") or "").split(",") if k],
        # Encrypts the access-token signing keys at rest; falls back to SECRET_KEY.
        "TOKEN_KEY_SECRET": env("TOKEN_KEY_SECRET"),
        # Old TOKEN_KEY_SECRETs (comma-separated) that still open stored signing keys.
        "TOKEN_KEY_SECRET_FALLBACKS": _list(env("TOKEN_KEY_SECRET_FALLBACKS")),
        "ACCESS_TOKEN_TTL_SECONDS": int(env("ACCESS_TOKEN_TTL_SECONDS", "300")),
        "ACCESS_TOKEN_AUDIENCE": env("ACCESS_TOKEN_AUDIENCE", "tenantdesk-api"),
        # A retired signing key stays in the JWKS this long (well beyond any token's expiry).
        "SIGNING_KEY_PUBLISH_SECONDS": int(env("SIGNING_KEY_PUBLISH_SECONDS", "86400")),
        # Runtime role (no ownership, no BYPASSRLS). Unset: the embedded PostgreSQL.
        "DATABASE_URL": env("DATABASE_URL"),
        # Owner role used by migrations only.
        "MIGRATION_DATABASE_URL": env("MIGRATION_DATABASE_URL"),
        "DB_POOL_SIZE": int(env("DB_POOL_SIZE", "10")),
        # "pgbouncer" (transaction pooling: psycopg prepares no statements), "none", or
        # "auto": PgBouncer when DATABASE_URL uses its port, 6432.
        "DATABASE_POOLER": env("DATABASE_POOLER", "auto").strip().lower(),
        "DB_CONNECT_TIMEOUT": int(env("DB_CONNECT_TIMEOUT", "5")),
        # While the database is unreachable pages and the API answer 503 with this Retry-After.
        "OUTAGE_RETRY_AFTER_SECONDS": int(env("OUTAGE_RETRY_AFTER_SECONDS", "5")),
        "SMTP_URL": env("SMTP_URL"),
        "MAIL_FROM": env("MAIL_FROM", "Tenantdesk <no-reply@tenantdesk.localhost>"),
        # Development/demo only: with no SMTP_URL, mail kept in instance/outbox is readable at
        # /dev/mail. Off unless TENANTDESK_DEV_MAIL=1 (`tenantdesk run` sets it); the route is
        # not even registered otherwise, so a production config never exposes it.
        "DEV_MAIL_VIEWER": env("TENANTDESK_DEV_MAIL", "0") == "1",
        "INVITATION_TTL_DAYS": int(env("INVITATION_TTL_DAYS", "7")),
        "REDIS_URL": env("REDIS_URL"),
        # The address in every link we publish (mail, SSO metadata, redirect URIs). Unset:
        # derived from HOST and PORT, the address `tenantdesk run/serve` listens on.
        "BASE_URL": env("BASE_URL") or served_url(env("HOST", "127.0.0.1"), env("PORT", "5000")),
        # Org hosts (dashboard/hosts): "<slug><suffix>" is that org's, e.g. ".desk.example"
        # makes acme.desk.example Acme's. Empty: no org hosts (custom domains still work).
        # `tenantdesk run` uses ".localhost" (browsers resolve *.localhost to loopback).
        "TENANT_HOST_SUFFIX": env("TENANT_HOST_SUFFIX", ""),
        # Host-only session cookie (no Domain attribute): a cookie set by acme.<suffix> is
        # never sent to globex.<suffix>, nor to the installation's own host. Never set it.
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_SECURE": env("SESSION_COOKIE_SECURE", "0") == "1",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "tenantdesk_session",
        "SESSION_IDLE_DAYS": int(env("SESSION_IDLE_DAYS", "14")),
        # The cookie is re-signed only when the session changed, or when the server-side row
        # is touched (once a minute, auth/principal.py), which keeps its expiry rolling.
        "SESSION_REFRESH_EACH_REQUEST": False,
        # Accounts (dashboard/accounts). invite-only: people join by invitation; open: /signup.
        "SIGNUP": env("SIGNUP", "invite-only"),
        "SIGNUP_TTL_HOURS": int(env("SIGNUP_TTL_HOURS", "24")),
        "PASSWORD_RESET_TTL_MINUTES": int(env("PASSWORD_RESET_TTL_MINUTES", "30")),
        "EMAIL_CHANGE_TTL_HOURS": int(env("EMAIL_CHANGE_TTL_HOURS", "24")),
        # Links mailed per address and hour (reset, sign-up); the per-client limits below.
        "ACCOUNT_MAILS_PER_HOUR": int(env("ACCOUNT_MAILS_PER_HOUR", "3")),
        "PASSWORD_RESET_RATE_LIMIT": env("PASSWORD_RESET_RATE_LIMIT", "10/hour"),
        "SIGNUP_RATE_LIMIT": env("SIGNUP_RATE_LIMIT", "10/hour"),
        "MFA_RATE_LIMIT": env("MFA_RATE_LIMIT", "30/minute"),
        # Wrong second-factor codes per person before the step is locked for the window.
        "MFA_MAX_FAILURES": int(env("MFA_MAX_FAILURES", "5")),
        # The installation's longest browser session (orgs may set a shorter one).
        "SESSION_MAX_AGE_HOURS": int(env("SESSION_MAX_AGE_HOURS", str(30 * 24))),
        # Step-up ("sudo mode"): sensitive actions ask again after this many seconds.
        "STEP_UP_SECONDS": int(env("STEP_UP_SECONDS", "600")),
        # Passkeys: the relying party id (a registrable domain of the origin, never an IP
        # address; unset: BASE_URL's host) and the name authenticators show.
        "WEBAUTHN_RP_ID": env("WEBAUTHN_RP_ID"),
        # The origin browsers use (scheme://host[:port]); unset: BASE_URL's.
        "WEBAUTHN_ORIGIN": env("WEBAUTHN_ORIGIN"),
        "WEBAUTHN_RP_NAME": env("WEBAUTHN_RP_NAME", "Tenantdesk"),
        "WTF_CSRF_TIME_LIMIT": None,  # token lives as long as the session
        "LOGIN_MAX_FAILURES": int(env("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_MAX_FAILURES_PER_IP": int(env("LOGIN_MAX_FAILURES_PER_IP", "30")),
        "LOGIN_FAILURE_WINDOW_SECONDS": int(env("LOGIN_FAILURE_WINDOW_SECONDS", "900")),
        # argon2id cost; tests lower it so the suite stays fast.
        "ARGON2_TIME_COST": int(env("ARGON2_TIME_COST", "3")),
        "ARGON2_MEMORY_COST": int(env("ARGON2_MEMORY_COST", "65536")),
        "MAX_CONTENT_LENGTH": int(env("MAX_CONTENT_LENGTH", str(1024 * 1024))),
        # SSO. Metadata URLs and OIDC issuers on loopback/private addresses (and plain http)
        # are refused unless this is on: `tenantdesk run` (development) and tests turn it on.
        "ALLOW_PRIVATE_METADATA_URLS": env("ALLOW_PRIVATE_METADATA_URLS", "0") == "1",
        "SSO_FETCH_TIMEOUT": float(env("SSO_FETCH_TIMEOUT", "5")),
        # 32 random bytes, urlsafe base64, sealing OIDC client secrets; unset: derived from
        # SECRET_KEY (then rotating SECRET_KEY means re-entering client secrets).
        "SSO_ENCRYPTION_KEY": env("SSO_ENCRYPTION_KEY"),
        # DNS servers for domain verification, e.g. "127.0.0.1:5353"; unset: the system's.
        "DNS_RESOLVER": env("DNS_RESOLVER"),
        "DNS_TIMEOUT": float(env("DNS_TIMEOUT", "3")),
        # Events (webhooks, audit-log streams; dashboard/events/, `tenantdesk worker`).
        # Endpoint URLs on loopback/private addresses (and plain http) are refused unless on:
        # `tenantdesk run` and tests turn it on.
        "ALLOW_PRIVATE_EVENT_URLS": env("ALLOW_PRIVATE_EVENT_URLS", "0") == "1",
        "EVENTS_HTTP_TIMEOUT": float(env("EVENTS_HTTP_TIMEOUT", "10")),
        "EVENTS_LEASE_SECONDS": float(env("EVENTS_LEASE_SECONDS", "60")),
        "EVENTS_RETRY_SCALE": float(env("EVENTS_RETRY_SCALE", "1")),
        "EVENTS_DISABLE_AFTER_SECONDS": float(env("EVENTS_DISABLE_AFTER_SECONDS", "259200")),
        "EVENTS_POLL_SECONDS": float(env("EVENTS_POLL_SECONDS", "0.5")),
        "WORKER_THREADS": int(env("WORKER_THREADS", "4")),
        "JOBS_INTERVAL_SECONDS": float(env("JOBS_INTERVAL_SECONDS", "3600")),
        "EVENTS_RETENTION_DAYS": int(env("EVENTS_RETENTION_DAYS", "30")),
        # API keys are stored as HMAC-SHA-256 under this key. Unset: derived from SECRET_KEY
        # (then rotating SECRET_KEY invalidates every API key; set this to rotate separately).
        "API_KEY_HMAC_KEY": env("API_KEY_HMAC_KEY"),
        # Old API_KEY_HMAC_KEYs (comma-separated) still accepted when checking a key.
        "API_KEY_HMAC_KEY_FALLBACKS": _list(env("API_KEY_HMAC_KEY_FALLBACKS")),
        # Sign-in and invitation acceptance, per client address; these fail closed.
        "LOGIN_RATE_LIMIT": env("LOGIN_RATE_LIMIT", "30/minute"),
        "INVITE_ACCEPT_RATE_LIMIT": env("INVITE_ACCEPT_RATE_LIMIT", "30/minute"),
        # Anonymous SSO endpoints (start, ACS, OIDC callback), per address and per connection.
        "SSO_RATE_LIMIT_PER_IP": env("SSO_RATE_LIMIT_PER_IP", "30/minute"),
        "SSO_RATE_LIMIT_PER_CONNECTION": env("SSO_RATE_LIMIT_PER_CONNECTION", "600/minute"),
        # OIDC discovery documents and JWKS are reused this long (seconds).
        "OIDC_CACHE_SECONDS": int(env("OIDC_CACHE_SECONDS", "600")),
        # Per SCIM token (dashboard/scim/api.py); an IdP's first sync sends bursts.
        "SCIM_RATE_LIMIT": env("SCIM_RATE_LIMIT", "1200/minute"),
        # The public /trust page with the isolation self-test's results (counts only).
        "TRUST_PAGE": env("TRUST_PAGE", "1") == "1",
        # The worker runs the isolation self-test and signs audit checkpoints this often.
        "SELFTEST_INTERVAL_SECONDS": int(env("SELFTEST_INTERVAL_SECONDS", "3600")),
        "RATELIMIT_KEY_PREFIX": env("RATELIMIT_KEY_PREFIX", "tenantdesk"),
        # Operations (dashboard/ops/). Logs: "text" (readable) or "json" (one object a line).
        "LOG_FORMAT": env("LOG_FORMAT", "text").strip().lower(),
        "LOG_LEVEL": env("LOG_LEVEL", "INFO").strip().upper(),
        # Reverse proxies in front whose X-Forwarded-* headers are believed (ProxyFix). None:
        # unset, which `tenantdesk config check` refuses behind an https BASE_URL.
        "TRUSTED_PROXY_HOPS": int(proxy_hops) if proxy_hops not in (None, "") else None,
        # Take the caller's X-Request-ID (only a trusted proxy should set it).
        "TRUST_REQUEST_ID": env("TRUST_REQUEST_ID", "1" if proxy_hops not in (None, "", "0")
                                else "0") == "1",
        "METRICS_ENABLED": env("METRICS_ENABLED", "1") == "1",
        # Bearer token for /metrics; unset: loopback callers only.
        "METRICS_TOKEN": env("METRICS_TOKEN"),
        "METRICS_PER_TIER": env("METRICS_PER_TIER", "0") == "1",
        # OpenTelemetry traces over OTLP/HTTP when set, e.g. http://127.0.0.1:4318
        "OTEL_EXPORTER_OTLP_ENDPOINT": env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "OTEL_SERVICE_NAME": env("OTEL_SERVICE_NAME", "tenantdesk"),
    }
