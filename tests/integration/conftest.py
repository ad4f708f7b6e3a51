"""Session fixtures: the embedded broker on a free port and a worker subprocess.

Never skipped: if the broker or the worker cannot start, the tests error.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.helpers import ROOT, free_port

#: Small limit so the oversize test stays quick; the default is 1 MB.
MAX_ARTICLE_BYTES = 200_000


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker(port=free_port())
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def env(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for CLI and worker subprocesses pointed at the test broker."""
    data = tmp_path_factory.mktemp("wirestream-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    env.update(
        WIRESTREAM_BROKER=broker.url,
        WIRESTREAM_APP_ID="wirestream-test",
        WIRESTREAM_DATA_DIR=str(data),
        WIRESTREAM_WEB_PORT=str(free_port()),
        WIRESTREAM_MAX_ARTICLE_BYTES=str(MAX_ARTICLE_BYTES),
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture(scope="session")
def settings(env: dict[str, str]) -> Settings:
    return Settings(broker=env["WIRESTREAM_BROKER"], max_article_bytes=MAX_ARTICLE_BYTES)


@pytest.fixture(scope="session")
def worker(
    settings: Settings, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """One `wirestream worker` for the whole session, started after the topics exist."""
    asyncio.run(ensure_topics(settings))
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    handle = Worker(process, log, env)
    deadline = time.monotonic() + 90
    while "Ready" not in handle.log_text():
        if not handle.alive():
            raise RuntimeError(f"worker exited early:\n{handle.log_text()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"worker not ready after 90 s:\n{handle.log_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``wirestream ARGS`` as a user would, against the test broker."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
