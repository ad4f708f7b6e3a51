"""Session fixtures: a broker of the test engine (``--broker-engine``: Tansu by default,
or Apache Kafka with a temporary data directory) on a free port and a worker subprocess.

Never skipped: if the broker or the worker cannot start, the tests error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.broker import LocalBroker
from streams.settings import Settings
from tests.helpers import (
    WorkerProcess,
    create_topics,
    free_port,
    new_broker,
    start_worker,
    worker_env,
)

#: Small limit so the oversize test stays quick; the default is 1 MB.
MAX_ARTICLE_BYTES = 200_000
#: Below MAX_ARTICLE_BYTES, so that a valid article can be too large to send once
#: enriched (tests/integration/test_outputs.py); the default is 900,000.
MAX_OUTPUT_BYTES = 150_000

Worker = WorkerProcess


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    local = new_broker(tmp_path_factory.mktemp("broker"), port=free_port())
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def env(broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for CLI and worker subprocesses pointed at the test broker."""
    return worker_env(
        broker.url,
        tmp_path_factory.mktemp("wirestream-data"),
        WIRESTREAM_APP_ID="wirestream-test",
        WIRESTREAM_MAX_ARTICLE_BYTES=str(MAX_ARTICLE_BYTES),
        WIRESTREAM_MAX_OUTPUT_BYTES=str(MAX_OUTPUT_BYTES),
    )


@pytest.fixture(scope="session")
def settings(env: dict[str, str]) -> Settings:
    return Settings(
        broker=env["WIRESTREAM_BROKER"],
        max_article_bytes=MAX_ARTICLE_BYTES,
        max_output_bytes=MAX_OUTPUT_BYTES,
    )


@pytest.fixture(scope="session")
def worker(
    settings: Settings, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One `wirestream worker` for the whole session, started after the topics exist."""
    create_topics(settings)
    handle = start_worker(env, tmp_path_factory.mktemp("worker") / "worker.log")
    try:
        yield handle
    finally:
        handle.stop()
