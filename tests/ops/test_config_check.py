"""`tenantdesk config check` and .env: effective settings, secrets masked, unsafe refused."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dashboard import config
from dashboard.cli import main

STRONG = "k" * 20 + "9f2c1d0e8b7a6f5e4d3c"  # 40 characters
SAFE = {
    "BASE_URL": "https://desk.example.com",
    "SECRET_KEY": STRONG,
    "SESSION_COOKIE_SECURE": "1",
    "TRUSTED_PROXY_HOPS": "1",
    "DATABASE_URL": "postgresql://tenantdesk_app:db-pass-zz91@db/tenantdesk",
    "METRICS_TOKEN": "metrics-token-zz92",
    "API_KEY_HMAC_KEY": "hmac-key-zz93",
}


@pytest.fixture
def run(tmp_path, monkeypatch):
    for name in [*SAFE, "TENANTDESK_DEV_MAIL", "ALLOW_PRIVATE_METADATA_URLS", "LOG_FORMAT"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("TENANTDESK_ENV_FILE", str(tmp_path / "none.env"))

    def invoke(env: dict, *args: str):
        return CliRunner().invoke(main, ["config", "check", *args], env=env)

    return invoke


def test_a_safe_production_configuration_passes_with_secrets_masked(run):
    result = run(SAFE)
    assert result.exit_code == 0, result.output
    assert "Configuration OK." in result.output
    for secret in (STRONG, "db-pass-zz91", "metrics-token-zz92", "hmac-key-zz93"):
        assert secret not in result.output
    assert "tenantdesk_app:***@db/tenantdesk" in result.output
    assert "BASE_URL" in result.output and "https://desk.example.com" in result.output


@pytest.mark.parametrize(("change", "complaint"), [
    ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
    ({"SECRET_KEY": "short-key"}, "SECRET_KEY is too short"),
    ({"SESSION_COOKIE_SECURE": None}, "SESSION_COOKIE_SECURE is off"),
    ({"TENANTDESK_DEV_MAIL": "1"}, "TENANTDESK_DEV_MAIL=1"),
    ({"TRUSTED_PROXY_HOPS": None}, "TRUSTED_PROXY_HOPS is unset"),
    ({"ALLOW_PRIVATE_METADATA_URLS": "1"}, "ALLOW_PRIVATE_METADATA_URLS"),
])
def test_each_unsafe_production_setting_is_refused(run, change, complaint):
    env = {k: v for k, v in {**SAFE, **change}.items() if v is not None}
    result = run(env)
    assert result.exit_code == 1
    assert complaint in result.output


def test_without_https_only_with_production_flag(run):
    local = {"BASE_URL": "http://127.0.0.1:5000"}
    assert run(local).exit_code == 0
    assert run(local, "--production").exit_code == 1


def test_dotenv_supplies_settings_the_environment_does_not(tmp_path, monkeypatch):
    env_file = tmp_path / "prod.env"
    env_file.write_text("LOG_FORMAT=json\nINVITATION_TTL_DAYS=3\nMAIL_FROM=From File <a@b.c>\n")
    monkeypatch.setenv("TENANTDESK_ENV_FILE", str(env_file))
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("MAIL_FROM", "From Env <e@b.c>")
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("INVITATION_TTL_DAYS", raising=False)
    settings = config.from_environment()
    assert settings["LOG_FORMAT"] == "json" and settings["INVITATION_TTL_DAYS"] == 3
    assert settings["MAIL_FROM"] == "From Env <e@b.c>"  # the environment wins
