from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.settings import Settings, explain_error, kafka_options


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


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("PARTITIONS", "abc", "WIRESTREAM_PARTITIONS must be an integer, got 'abc'"),
        ("PARTITIONS", "0", "WIRESTREAM_PARTITIONS must be at least 1, got '0'"),
        ("WEB_PORT", "70000", "WIRESTREAM_WEB_PORT must be at most 65535, got '70000'"),
        ("BROKER_PORT", "0", "WIRESTREAM_BROKER_PORT must be at least 1, got '0'"),
        ("BATCH_WAIT", "soon", "WIRESTREAM_BATCH_WAIT must be a number, got 'soon'"),
        (
            "LOG_LEVEL",
            "verbose",
            "WIRESTREAM_LOG_LEVEL must be one of critical, error, warning, info or debug, "
            "got 'verbose'",
        ),
        (
            "SECURITY_PROTOCOL",
            "TLS",
            "WIRESTREAM_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT or "
            "SASL_SSL, got 'TLS'",
        ),
        (
            "SASL_MECHANISM",
            "GSSAPI",
            "WIRESTREAM_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, "
            "got 'GSSAPI'",
        ),
        (
            "ROUTES",
            "/no/such/routes.toml",
            "WIRESTREAM_ROUTES must name an existing file, got '/no/such/routes.toml'",
        ),
        (
            "SSL_CAFILE",
            "/no/such/ca.pem",
            "WIRESTREAM_SSL_CAFILE must name an existing file, got '/no/such/ca.pem'",
        ),
        (
            "BROKER",
            "kafka://localhost:http",
            "WIRESTREAM_BROKER must be kafka://host:port[;host:port...], "
            "got 'kafka://localhost:http'",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, line: str
) -> None:
    monkeypatch.setenv(f"WIRESTREAM_{name}", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert explain_error(caught.value) == line


def test_several_bad_values_and_flags_are_named_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRESTREAM_PARTITIONS", "four")
    monkeypatch.setenv("WIRESTREAM_ROUTES", "/no/such.toml")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert explain_error(caught.value, {"routes": "--routes"}) == (
        "--routes must name an existing file, got '/no/such.toml'; "
        "WIRESTREAM_PARTITIONS must be an integer, got 'four'"
    )


def test_enumerations_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRESTREAM_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("WIRESTREAM_SASL_MECHANISM", "scram-sha-256")
    monkeypatch.setenv("WIRESTREAM_LOG_LEVEL", " DEBUG ")
    s = Settings()
    assert (s.security_protocol, s.sasl_mechanism, s.log_level) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
        "debug",
    )


def test_values_set_in_the_environment_are_known_as_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker picks a free web port only when the port was not chosen."""
    monkeypatch.delenv("WIRESTREAM_WEB_PORT", raising=False)
    assert "web_port" not in Settings().model_fields_set
    monkeypatch.setenv("WIRESTREAM_WEB_PORT", "7002")
    assert "web_port" in Settings().model_fields_set
