"""``WIRESTREAM_GUARANTEE=exactly_once`` on the embedded Tansu broker, which has no
transactions: the worker refuses to start with one line and exit status 1. (On Apache
Kafka, tests/soak/test_exactly_once.py proves exactly-once under kill -9.)

This test starts its own Tansu broker, whatever the test engine."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import LocalBroker, local_broker
from tests.helpers import ROOT, worker_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tansu() -> Iterator[LocalBroker]:
    broker = local_broker("tansu", 0).start()
    try:
        yield broker
    finally:
        broker.stop()


def test_exactly_once_is_refused_on_tansu(tansu: LocalBroker, tmp_path: Path) -> None:
    env = worker_env(tansu.url, tmp_path, WIRESTREAM_GUARANTEE="Exactly_Once")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        "wirestream worker: WIRESTREAM_GUARANTEE=exactly_once needs Apache Kafka "
        "(transactions); the embedded Tansu broker has none: use --engine kafka / "
        "WIRESTREAM_BROKER_ENGINE=kafka, or WIRESTREAM_GUARANTEE=at_least_once"
    )
    assert "Traceback" not in result.stderr
    assert "[^Worker]" not in result.stdout + result.stderr  # refused before Faust starts
    assert time.monotonic() - started < 60


def test_a_bad_guarantee_is_one_line(tansu: LocalBroker, tmp_path: Path) -> None:
    env = worker_env(tansu.url, tmp_path, WIRESTREAM_GUARANTEE="exactly-twice")
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "wirestream worker: WIRESTREAM_GUARANTEE must be one of at_least_once or "
        "exactly_once, got 'exactly-twice'"
    )
