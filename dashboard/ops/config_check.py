"""``tenantdesk config check``: the effective settings, secrets masked, and a refusal of an
unsafe production configuration.

Production means an ``https`` ``BASE_URL`` (or ``--production``). There the check refuses:
a ``SECRET_KEY`` that is not set or is shorter than 32 characters, session cookies without
``Secure``, the development mail viewer, private metadata URLs, and
``TRUSTED_PROXY_HOPS`` left unset (TLS ends at a proxy in front; say how many to trust, or
0 when gunicorn itself terminates TLS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

SECRET_SETTINGS = frozenset({
    "SECRET_KEY", "SECRET_KEY_FALLBACKS", "TOKEN_KEY_SECRET", "TOKEN_KEY_SECRET_FALLBACKS",
    "API_KEY_HMAC_KEY", "API_KEY_HMAC_KEY_FALLBACKS", "SSO_ENCRYPTION_KEY", "METRICS_TOKEN",
})
URL_SETTINGS = frozenset({"DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL", "SMTP_URL"})
MIN_SECRET_LENGTH = 32
_WEAK = {"dev", "development", "secret", "changeme", "change-me", "tenantdesk", "test"}


@dataclass
class Report:
    settings: dict[str, str]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def mask(name: str, value) -> str:
    if value in (None, "", []):
        return "(unset)"
    if name in SECRET_SETTINGS:
        count = len(value) if isinstance(value, list) else 1
        return f"**** ({count} set)" if isinstance(value, list) else "****"
    if name in URL_SETTINGS:
        try:
            url = make_url(str(value))
        except Exception:  # noqa: BLE001 - an unparsable URL is shown as masked, never echoed
            return "****"
        return url.render_as_string(hide_password=True)
    return str(value)


def check(config: dict, environ_secret_key: str | None, production: bool = False) -> Report:
    """``environ_secret_key``: SECRET_KEY as set by the operator (None when the app fell back
    to the random key kept under instance/, fine for one development machine only)."""
    report = Report(settings={k: mask(k, v) for k, v in sorted(config.items())
                              if k.isupper()})
    base_url = str(config.get("BASE_URL") or "")
    production = production or base_url.startswith("https://")
    if not production:
        report.warnings.append("not checked as production (BASE_URL is not https; "
                               "use --production to check anyway)")
        return report
    problems = report.problems
    if not environ_secret_key:
        problems.append("SECRET_KEY is not set (a random per-machine key would differ "
                        "between servers and be lost with instance/)")
    elif len(environ_secret_key) < MIN_SECRET_LENGTH or environ_secret_key.lower() in _WEAK:
        problems.append(f"SECRET_KEY is too short or a default: use at least "
                        f"{MIN_SECRET_LENGTH} random characters")
    if base_url.startswith("https://") and not config.get("SESSION_COOKIE_SECURE"):
        problems.append("BASE_URL is https but SESSION_COOKIE_SECURE is off")
    if config.get("DEV_MAIL_VIEWER"):
        problems.append("TENANTDESK_DEV_MAIL=1 exposes /dev/mail: never in production")
    if config.get("ALLOW_PRIVATE_METADATA_URLS"):
        problems.append("ALLOW_PRIVATE_METADATA_URLS=1 lets SSO fetch internal addresses")
    if config.get("TRUSTED_PROXY_HOPS") is None:
        problems.append("TRUSTED_PROXY_HOPS is unset: set the number of reverse proxies in "
                        "front (usually 1), or 0 if clients connect to gunicorn directly")
    if not config.get("SMTP_URL"):
        report.warnings.append("SMTP_URL is unset: mail is only kept under instance/outbox")
    if not config.get("SSO_ENCRYPTION_KEY"):
        report.warnings.append("SSO_ENCRYPTION_KEY is unset: derived from SECRET_KEY, so "
                               "rotating SECRET_KEY means re-entering OIDC client secrets")
    if not config.get("API_KEY_HMAC_KEY"):
        report.warnings.append("API_KEY_HMAC_KEY is unset: derived from SECRET_KEY")
    if not config.get("REDIS_URL"):
        report.warnings.append("REDIS_URL is unset: rate limits count per process only")
    return report
