from __future__ import annotations

import pytest

from streams.settings import Settings, kafka_options


def test_env_prefix_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("BROKER", "WEB_PORT", "ROUTES"):
        monkeypatch.delenv(f"WIRESTREAM_{key}", raising=False)
    s = Settings()
    assert s.broker == "kafka://127.0.0.1:9092" and s.web_port == 6066 and s.web_host == "127.0.0.1"
    assert s.routes.name == "routes.toml" and s.routes.exists()
    monkeypatch.setenv("WIRESTREAM_BROKER", "kafka://k1:9093;k2")
    monkeypatch.setenv("WIRESTREAM_WEB_PORT", "7001")
    s = Settings()
    assert s.bootstrap_servers == ["k1:9093", "k2:9092"] and s.web_port == 7001
    assert not s.is_local_broker


def test_secrets_are_hidden_and_sasl_options_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRESTREAM_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("WIRESTREAM_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("WIRESTREAM_SASL_USERNAME", "svc")
    monkeypatch.setenv("WIRESTREAM_SASL_PASSWORD", "hunter2-secret")
    s = Settings()
    assert "hunter2-secret" not in repr(s) and "hunter2-secret" not in str(s.model_dump())
    options = kafka_options(s)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == "hunter2-secret"


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception):  # noqa: B017
        s.web_port = 1  # type: ignore[misc]
