"""The command line's errors, help and flags, with no broker running: each mistake a user
can make ends in one line on stderr, naming what to fix, and a documented exit status."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.cli import EXIT_BROKER, EXIT_INPUT, EXIT_USAGE, choose_web_port, parser
from streams.settings import Settings, get_settings
from tests.helpers import ROOT, cli, free_port


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No WIRESTREAM_* from the caller; a broker address where nothing listens."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    clean.update(
        PYTHONPATH=str(ROOT),
        WIRESTREAM_BROKER=f"kafka://127.0.0.1:{free_port()}",
        WIRESTREAM_DATA_DIR=str(tmp_path / "data"),
        WIRESTREAM_WEB_PORT=str(free_port()),
    )
    return clean


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line (fails on a traceback or several lines)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_bad_setting_is_one_line_and_status_1(env: dict[str, str]) -> None:
    result = cli({**env, "WIRESTREAM_PARTITIONS": "abc"}, "topics")
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == (
        "wirestream topics: WIRESTREAM_PARTITIONS must be an integer, got 'abc'"
    )
    assert result.stdout == ""


def test_a_bad_log_level_stops_the_worker_before_it_starts(env: dict[str, str]) -> None:
    result = cli({**env, "WIRESTREAM_LOG_LEVEL": "verbose"}, "worker")
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == (
        "wirestream worker: WIRESTREAM_LOG_LEVEL must be one of critical, error, warning, "
        "info or debug, got 'verbose'"
    )
    assert "CANNOT SETUP LOGGING" not in result.stdout + result.stderr


def test_debug_shows_the_traceback(env: dict[str, str]) -> None:
    for args, extra in (
        (["--debug", "topics"], {}),
        (["topics"], {"WIRESTREAM_LOG_LEVEL": "debug"}),
    ):
        result = cli({**env, "WIRESTREAM_PARTITIONS": "abc", **extra}, *args)
        assert result.returncode == EXIT_INPUT
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.rstrip().endswith(
            "wirestream topics: WIRESTREAM_PARTITIONS must be an integer, got 'abc'"
        )
    result = cli({**env, "WIRESTREAM_PARTITIONS": "abc"}, "topics", "--debug")
    assert "Traceback (most recent call last)" in result.stderr


def test_a_missing_routes_file_names_the_flag(env: dict[str, str]) -> None:
    result = cli(env, "topics", "--routes", "/no/such/routes.toml")
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == (
        "wirestream topics: --routes must name an existing file, got '/no/such/routes.toml'"
    )
    result = cli({**env, "WIRESTREAM_ROUTES": "/no/such/routes.toml"}, "reroute")
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == (
        "wirestream reroute: WIRESTREAM_ROUTES must name an existing file, "
        "got '/no/such/routes.toml'"
    )


def test_a_routes_file_with_a_typo_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "routes.toml"
    broken.write_text('[[route]\ntopic = "x"\n')
    result = cli(env, "topics", "--routes", str(broken))
    assert result.returncode == EXIT_INPUT
    line = one_line(result)
    assert line.startswith(f"wirestream topics: bad routes file: {broken}: not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[route]]\ntopic = "x"\nwhen.topic = ["sport"]\n')
    result = cli(env, "worker", "--routes", str(unknown))
    assert result.returncode == EXIT_INPUT
    assert one_line(result).startswith(
        f"wirestream worker: bad routes file: {unknown}: route 1 (topic 'x'): "
        "unknown condition ['topic']"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["subscribe", "wirestream.topic.sport"],
        ["reroute"],
        ["topics", "--create"],
        ["worker"],
    ],
)
def test_an_unreachable_broker_is_one_line_and_status_3(
    env: dict[str, str], args: list[str]
) -> None:
    url = env["WIRESTREAM_BROKER"]
    result = cli(env, *args)
    assert result.returncode == EXIT_BROKER
    assert one_line(result) == (
        f"wirestream {args[0]}: cannot reach a Kafka broker at {url}; start one "
        "(wirestream broker) or point --broker / WIRESTREAM_BROKER at yours"
    )


def test_broker_flag_overrides_the_environment(env: dict[str, str]) -> None:
    other = f"kafka://127.0.0.1:{free_port()}"
    result = cli(env, "subscribe", "t", "--broker", other)
    assert result.returncode == EXIT_BROKER
    assert f"cannot reach a Kafka broker at {other};" in one_line(result)
    result = cli(env, "subscribe", "t", "--broker", "kafka://host:notaport")
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == (
        "wirestream subscribe: --broker must be kafka://host:port[;host:port...], "
        "got 'kafka://host:notaport'"
    )


def test_a_port_in_use_is_one_line_naming_the_setting(env: dict[str, str], taken_port: int) -> None:
    result = cli(env, "broker", "--port", str(taken_port))
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == (
        f"wirestream broker: port 127.0.0.1:{taken_port} is already in use (a broker already "
        "running?); choose another with --port or WIRESTREAM_BROKER_PORT (given by --port)"
    )
    result = cli(env, "worker", "--web-port", str(taken_port))
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == (
        f"wirestream worker: web port 127.0.0.1:{taken_port} is already in use (another "
        "worker on this host?); choose another with --web-port or WIRESTREAM_WEB_PORT"
    )


def test_a_missing_file_to_run_is_one_line(env: dict[str, str]) -> None:
    result = cli(env, "run", "--once", "no-such-file.jsonl")
    assert result.returncode == EXIT_INPUT
    assert one_line(result) == "wirestream run: no such file or directory: no-such-file.jsonl"


def test_usage_errors_exit_2(env: dict[str, str]) -> None:
    result = cli(env, "subscribe")
    assert result.returncode == EXIT_USAGE
    assert "the following arguments are required: TOPIC" in result.stderr
    result = cli(env, "publish")
    assert result.returncode == EXIT_USAGE
    assert one_line(result) == "wirestream publish: give at least one PATH or --watch DIR"


def test_a_misspelt_setting_is_warned_about(env: dict[str, str]) -> None:
    result = cli({**env, "WIRESTREAM_PARTITONS": "8"}, "topics")
    assert result.returncode == 0
    assert one_line(result) == (
        "wirestream: warning: WIRESTREAM_PARTITONS is not a setting "
        "(did you mean WIRESTREAM_PARTITIONS?)"
    )


def test_help_lists_every_subcommand_in_plain_text(env: dict[str, str]) -> None:
    result = cli(env, "--help")
    assert result.returncode == 0
    commands = ["broker", "worker", "publish", "subscribe", "reroute", "topics", "run", "feed"]
    listed = [
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.startswith("    ") and line.split()[0] in commands
    ]
    assert listed == commands
    assert "`" not in result.stdout
    assert "WIRESTREAM_<NAME>" in result.stdout and "130 interrupted" in result.stdout


def test_every_option_has_help_and_kafka_commands_take_broker() -> None:
    top = parser()
    subparsers = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        options = {o for a in sub._actions for o in a.option_strings}
        assert "--debug" in options
        assert ("--broker" in options) == (name != "broker"), name
    worker = subparsers.choices["worker"]
    assert "--web-port" in {o for a in worker._actions for o in a.option_strings}


def test_worker_takes_a_free_web_port_when_the_default_is_taken(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIRESTREAM_WEB_PORT", "1")
    monkeypatch.delenv("WIRESTREAM_WEB_PORT")  # restored (unset) afterwards
    get_settings.cache_clear()
    default = Settings()
    assert "web_port" not in default.model_fields_set
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", default.web_port))
            holder.listen()
        except OSError:
            pass  # something else holds 6066 already: taken either way
        try:
            chosen = choose_web_port(default)
        finally:
            get_settings.cache_clear()
    assert chosen.web_port != default.web_port
    assert os.environ["WIRESTREAM_WEB_PORT"] == str(chosen.web_port)
    assert capsys.readouterr().err.splitlines() == [
        f"web port {default.web_port} is in use (another worker on this host?); using "
        f"{chosen.web_port} (set --web-port or WIRESTREAM_WEB_PORT to choose)"
    ]


def test_a_tombstone_prints_as_a_withdrawal_line() -> None:
    from streams.cli import withdrawal

    assert withdrawal("wirestream.topic.economy", b"a1b2", False) == (
        "[wirestream.topic.economy] withdrawn: a1b2"
    )
    assert withdrawal("wirestream.enriched", b"a1b2", True) == '{"id":"a1b2","withdrawn":true}'
