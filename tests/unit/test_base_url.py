"""One BASE_URL rule: set explicitly, or derived from the address served (HOST/PORT)."""

from dashboard import config


def _settings(monkeypatch, tmp_path, **env):
    for name in ("BASE_URL", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return config.from_environment()


def test_port_alone_moves_every_published_link(monkeypatch, tmp_path):
    assert _settings(monkeypatch, tmp_path, PORT="5150")["BASE_URL"] == "http://127.0.0.1:5150"


def test_defaults_to_the_quickstart_address(monkeypatch, tmp_path):
    assert _settings(monkeypatch, tmp_path)["BASE_URL"] == "http://127.0.0.1:5000"


def test_a_wildcard_host_publishes_loopback_and_ipv6_is_bracketed(monkeypatch, tmp_path):
    assert _settings(monkeypatch, tmp_path, HOST="0.0.0.0", PORT="8000")["BASE_URL"] \
        == "http://127.0.0.1:8000"
    assert config.served_url("::1", 8000) == "http://[::1]:8000"


def test_an_explicit_base_url_wins(monkeypatch, tmp_path):
    settings = _settings(monkeypatch, tmp_path, BASE_URL="https://td.example", PORT="5150")
    assert settings["BASE_URL"] == "https://td.example"
