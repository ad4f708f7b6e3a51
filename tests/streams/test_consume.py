"""The shared consumer helper (streams/consume.py) against the real embedded broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.broker import EmbeddedBroker
from streams.consume import consumer_options, open_consumer, polls
from streams.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def servers() -> Iterator[list[str]]:
    with EmbeddedBroker(port=0) as broker:
        yield [broker.bootstrap_servers]


async def _topic(servers: list[str], per_partition: dict[int, int]) -> str:
    topic = f"consume.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for partition, count in per_partition.items():
            for i in range(count):
                key = f"p{partition}-{i}".encode()
                await producer.send_and_wait(topic, b"v", key=key, partition=partition)
    finally:
        await producer.stop()
    return topic


def test_options_say_group_start_and_isolation() -> None:
    options = consumer_options(
        ["h:1"], group="g", start="end", isolation_level="read_committed", fetch_max_bytes=9
    )
    assert options == {
        "bootstrap_servers": ["h:1"],
        "group_id": "g",
        "enable_auto_commit": False,
        "auto_offset_reset": "latest",
        "isolation_level": "read_committed",
        "fetch_max_bytes": 9,
    }
    from_settings = consumer_options(Settings(broker="kafka://a:1;b:2"))
    assert from_settings["bootstrap_servers"] == ["a:1", "b:2"]
    assert from_settings["client_id"] == "wirestream" and from_settings["group_id"] is None
    assert from_settings["auto_offset_reset"] == "earliest"


def test_until_end_reads_assigned_partitions_in_order_then_stops(servers: list[str]) -> None:
    async def go() -> tuple[list[tuple[int, int, bytes]], int]:
        topic = await _topic(servers, {0: 3, 1: 2})
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        got: list[tuple[int, int, bytes]] = []
        polled = 0
        async with open_consumer(servers, partitions=tps) as consumer:
            async for records in polls(consumer, poll_ms=200, until_end=True, timeout=20):
                polled += 1
                got += [(m.partition, m.offset, m.key) for m in records]
        return got, polled

    got, polled = asyncio.run(go())
    assert sorted(got) == [
        (0, 0, b"p0-0"),
        (0, 1, b"p0-1"),
        (0, 2, b"p0-2"),
        (1, 0, b"p1-0"),
        (1, 1, b"p1-1"),
    ]
    assert polled < 50  # it stopped at the end, not at the timeout


def test_start_at_end_and_idle(servers: list[str]) -> None:
    """Assigned at their end, the partitions give nothing of what was there before;
    polling ends after ``idle`` quiet seconds."""

    async def go() -> tuple[int, float]:
        topic = await _topic(servers, {0: 4})
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        count = 0
        began = time.monotonic()
        async with open_consumer(servers, partitions=tps, start="end") as consumer:
            async for records in polls(consumer, poll_ms=100, idle=1.0, timeout=20):
                count += len(records)
        return count, time.monotonic() - began

    count, took = asyncio.run(go())
    assert count == 0
    assert 1.0 <= took < 10


def test_subscribed_from_the_beginning_with_a_timeout(servers: list[str]) -> None:
    async def go() -> list[bytes]:
        topic = await _topic(servers, {1: 3})
        keys: list[bytes] = []
        async with open_consumer(servers, [topic], metadata_max_age_ms=1000) as consumer:
            async for records in polls(consumer, poll_ms=200, timeout=20):
                keys += [m.key for m in records]
                if len(keys) >= 3:
                    break
        return keys

    assert asyncio.run(go()) == [b"p1-0", b"p1-1", b"p1-2"]
