"""``WIRESTREAM_GUARANTEE=exactly_once`` on the embedded Tansu broker, which has no
transactions: the worker refuses to start with one line and exit status 1. (On Apache
Kafka, tests/soak/test_exactly_once.py proves exactly-once under kill -9.)

This test starts its own Tansu broker, whatever the test engine."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.deadletter import Received
from streams.broker import LocalBroker, local_broker
from streams.consume import open_consumer, polls
from streams.settings import Settings
from streams.transactions import FATAL, Fenced, TransactionalSender
from tests.helpers import cli, committed_offsets, on_kafka, worker_env

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
    result = cli(env, "worker", timeout=120)
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
    result = cli(env, "worker", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "wirestream worker: WIRESTREAM_GUARANTEE must be one of at_least_once or "
        "exactly_once, got 'exactly-twice'"
    )


async def _topic(servers: list[str], name: str, partitions: int = 2) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def _read_committed(servers: list[str], topic: str) -> list[tuple[str, bytes]]:
    """Every (key, value) a read_committed consumer sees on ``topic`` (until 2 s idle)."""
    seen: list[tuple[str, bytes]] = []
    async with open_consumer(servers, [topic], isolation_level="read_committed") as consumer:
        async for records in polls(consumer, poll_ms=500, idle=2.0):
            seen += [((m.key or b"").decode(), m.value or b"") for m in records]
    return sorted(seen)


if on_kafka():

    def test_a_transaction_commits_outputs_and_offsets_together(broker: LocalBroker) -> None:
        """Outputs of a committed transaction are visible with its offsets; those of an
        aborted one never are, and its offsets are not committed."""
        servers = [broker.bootstrap_servers]
        out, group = f"eos.out.{uuid.uuid4().hex[:6]}", f"eos-{uuid.uuid4().hex[:6]}"
        source = f"eos.source.{uuid.uuid4().hex[:6]}"
        settings = Settings(broker=broker.url, app_id=group, transactional_id=group + "-1")

        async def scenario() -> None:
            await _topic(servers, out)
            await _topic(servers, source)
            sender = TransactionalSender(settings)
            await sender.start()
            try:
                batch = [
                    Received(b"a", b"", source, 0, 41, None),
                    Received(b"b", b"", source, 1, 6, None),
                ]
                await sender.send([(out, b"a", b"A1"), (out, b"b", b"B1")], batch)
                # A transaction that fails half way: aborted, nothing visible.
                producer = sender._producer
                assert producer is not None
                await producer.begin_transaction()
                await (await producer.send(out, b"X", key=b"x"))
                await producer.send_offsets_to_transaction({TopicPartition(source, 0): 99}, group)
                await producer.abort_transaction()
            finally:
                await sender.stop()
            assert sender.committed == {TopicPartition(source, 0): 42, TopicPartition(source, 1): 7}

        asyncio.run(scenario())
        assert asyncio.run(_read_committed(servers, out)) == [("a", b"A1"), ("b", b"B1")]
        assert asyncio.run(committed_offsets(servers, group)) == {
            TopicPartition(source, 0): 42,
            TopicPartition(source, 1): 7,
        }

    def test_a_restarted_worker_fences_the_old_one(broker: LocalBroker) -> None:
        """A second sender with the same transactional id fences the first: the first's
        next transaction fails (Fenced) and its open transaction is aborted."""
        servers = [broker.bootstrap_servers]
        out, group = f"eos.out.{uuid.uuid4().hex[:6]}", f"eos-{uuid.uuid4().hex[:6]}"
        source = f"eos.source.{uuid.uuid4().hex[:6]}"
        settings = Settings(broker=broker.url, app_id=group, transactional_id=group + "-1")

        async def scenario() -> None:
            await _topic(servers, out)
            await _topic(servers, source)
            old = TransactionalSender(settings, retry_for=5)
            await old.start()
            # The old worker hangs mid-transaction (sent, not committed) ...
            producer = old._producer
            assert producer is not None
            await producer.begin_transaction()
            await (await producer.send(out, b"zombie", key=b"z"))
            # ... and its replacement starts with the same id.
            new = TransactionalSender(settings)
            await new.start()
            try:
                await new.send([(out, b"n", b"new")], [Received(b"n", b"", source, 0, 0, None)])
                with pytest.raises(FATAL):
                    await producer.commit_transaction()
                with pytest.raises(Fenced, match="taken over"):
                    await old.send([(out, b"o", b"old")], [Received(b"o", b"", source, 0, 1, None)])
            finally:
                await new.stop()
                await old.stop()

        asyncio.run(scenario())
        assert asyncio.run(_read_committed(servers, out)) == [("n", b"new")]
        assert asyncio.run(committed_offsets(servers, group)) == {TopicPartition(source, 0): 1}
