"""``--broker-engine tansu|kafka`` (or ``WIRESTREAM_TEST_ENGINE``): the engine of the brokers
that the integration and soak tests start (tests/helpers.py ``new_broker``). Tansu by
default (``make test``, ``make soak``); ``make test-kafka`` and ``make soak-kafka`` run the
same suites on Apache Kafka."""

from __future__ import annotations

import os

import pytest

from tests.helpers import ENGINE_ENV, broker_engine


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker-engine",
        choices=("tansu", "kafka"),
        default=None,
        help="engine of the test brokers (default $WIRESTREAM_TEST_ENGINE or tansu)",
    )


def pytest_configure(config: pytest.Config) -> None:
    engine = config.getoption("--broker-engine")
    if engine:
        os.environ[ENGINE_ENV] = engine


def pytest_report_header(config: pytest.Config) -> str:
    return f"broker engine: {broker_engine()}"
