"""The Faust app's consumer patches (streams/patches.py), against a broker of the test engine:
on Apache Kafka (``make test-kafka``) the same tests show whether it needs them too."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import (
    CommitFailedError,
    GroupCoordinatorNotAvailableError,
    UnknownMemberIdError,
)
from aiokafka.protocol.commit import OffsetCommitRequest
from aiokafka.protocol.group import HeartbeatRequest

from streams.patches import apply_patches, seek_to_committed_or_beginning
from streams.settings import Settings
from tests.helpers import new_broker

pytestmark = pytest.mark.integration
apply_patches(Settings())  # what the worker does when it starts


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Bootstrap servers of a broker of the test engine for this module."""
    with new_broker(tmp_path_factory.mktemp("broker")) as broker:
        yield [broker.bootstrap_servers]


async def topic_with_records(servers: list[str], count: int) -> str:
    """A new topic of four partitions with ``count`` records in partition 0."""
    topic = f"app.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for i in range(count):
            await producer.send_and_wait(topic, f"v{i}".encode(), partition=0)
    finally:
        await producer.stop()
    return topic


async def committed(servers: list[str], group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(tp)
    finally:
        await consumer.stop()


async def coordinator(client: AIOKafkaClient, group: str) -> int:
    """The group's coordinator node; Apache Kafka answers "not available" until it has
    created its offsets topic, on a group's first lookup."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(await client.coordinator_lookup(CoordinationType.GROUP, group))
        except GroupCoordinatorNotAvailableError:
            assert time.monotonic() < deadline, "no group coordinator within 30 s"
            await asyncio.sleep(0.2)


async def assigned(consumer: AIOKafkaConsumer) -> None:
    """Wait until the group consumer has partitions, a member id and a generation, and
    is not rejoining (Apache Kafka hands out the member id before the join completes)."""
    deadline = time.monotonic() + 30
    coordinator = consumer._coordinator
    while not (
        consumer.assignment()
        and coordinator.member_id
        and coordinator.generation >= 0
        and not coordinator._rejoin_needed_fut.done()
    ):
        assert time.monotonic() < deadline, "no assignment within 30 s"
        await consumer.getmany(timeout_ms=100)


@asynccontextmanager
async def joined_consumer(
    servers: list[str],
) -> AsyncIterator[tuple[AIOKafkaConsumer, TopicPartition, str]]:
    """A group consumer, assigned, on a new topic with records v0, v1, v2 in partition 0;
    yields it, that partition and the group id."""
    topic, group = await topic_with_records(servers, 3), f"g-{uuid.uuid4().hex[:6]}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        await assigned(consumer)
        yield consumer, TopicPartition(topic, 0), group
    finally:
        await consumer.stop()


def test_a_broker_stores_a_commit_without_membership_for_a_group_it_does_not_know(
    servers: list[str],
) -> None:
    """What a consumer sends between a failed heartbeat and its rejoin: no member id,
    generation -1. A broker that restarted empty knows no group and stores it, while it
    rejects the heartbeat. Apache Kafka does the same (asserted by this test on it), so
    the worker refuses such commits on both brokers; only Tansu loses its log on a
    restart, which is what made the stored offsets wrong (README, Reliability)."""

    async def go() -> tuple[int, list[int], int | None]:
        topic, group = await topic_with_records(servers, 3), f"g-{uuid.uuid4().hex[:6]}"
        client = AIOKafkaClient(bootstrap_servers=servers)
        await client.bootstrap()
        try:
            node = await coordinator(client, group)
            heartbeat = await client.send(node, HeartbeatRequest(group, -1, ""))
            commit = await client.send(
                node, OffsetCommitRequest(group, -1, "", -1, [(topic, [(0, 2, "")])])
            )
        finally:
            await client.close()
        errors = [error for _, partitions in commit.topics for _, error in partitions]
        offset = await committed(servers, group, TopicPartition(topic, 0))
        return heartbeat.error_code, errors, offset

    heartbeat_error, commit_errors, offset = asyncio.run(go())
    assert heartbeat_error == UnknownMemberIdError.errno
    assert commit_errors == [0]
    assert offset == 2


def test_the_group_consumer_refuses_to_commit_while_it_is_not_a_member(
    servers: list[str],
) -> None:
    """After a failed heartbeat (member id reset) the commit fails like one after a
    rebalance and stores nothing; once the consumer has rejoined, commits go through."""

    async def go() -> tuple[str, int | None, int | None]:
        async with joined_consumer(servers) as (consumer, tp, group):
            consumer._coordinator.reset_generation()  # what a failed heartbeat does
            with pytest.raises(CommitFailedError) as refused:
                await consumer.commit({tp: 2})
            before_rejoin = await committed(servers, group, tp)
            await assigned(consumer)
            await consumer.commit({tp: 3})
            after_rejoin = await committed(servers, group, tp)
        return str(refused.value.__cause__), before_rejoin, after_rejoin

    reason, before_rejoin, after_rejoin = asyncio.run(go())
    assert "not a group member" in reason
    assert before_rejoin is None
    assert after_rejoin == 3


def test_a_consumer_with_assigned_partitions_still_commits_without_membership(
    servers: list[str],
) -> None:
    """The refusal is for group members only: a consumer given its partitions with
    ``assign()`` never joins (no member id by design) and its commits go through (the
    Apache Kafka engine's restart test commits this way; refusing it was a bug)."""

    async def go() -> int | None:
        topic, group = await topic_with_records(servers, 3), f"g-{uuid.uuid4().hex[:6]}"
        tp = TopicPartition(topic, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group)
        await consumer.start()
        try:
            consumer.assign([tp])
            assert consumer._coordinator.member_id == ""
            await consumer.commit({tp: 3})
        finally:
            await consumer.stop()
        return await committed(servers, group, tp)

    assert asyncio.run(go()) == 3


def test_seeking_to_committed_rewinds_partitions_without_a_commit(servers: list[str]) -> None:
    """Faust drops records fetched while its flow is paused and seeks back to the committed
    offsets. aiokafka's seek leaves a partition with no commit where the fetcher got to
    (the records were lost); the worker's seek goes back to the beginning there, and to
    the committed offset where there is one. A client bug: the same on Apache Kafka."""

    async def read(consumer: AIOKafkaConsumer, tp: TopicPartition, count: int) -> list[bytes]:
        values: list[bytes] = []
        deadline = time.monotonic() + 15
        while len(values) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=200)
            values += [m.value for m in batch.get(tp, []) if m.value is not None]
        return values

    async def go() -> tuple[list[bytes], int, dict[TopicPartition, int | None], list[bytes], int]:
        async with joined_consumer(servers) as (consumer, tp, _):
            first = await read(consumer, tp, 3)
            await consumer.seek_to_committed()
            stays_at = await consumer.position(tp)
            offsets = await seek_to_committed_or_beginning(consumer)
            again = await read(consumer, tp, 3)
            await consumer.commit({tp: 2})
            await seek_to_committed_or_beginning(consumer)
            return first, stays_at, offsets, again, await consumer.position(tp)

    first, stays_at, offsets, again, after_commit = asyncio.run(go())
    assert first == [b"v0", b"v1", b"v2"]
    assert stays_at == 3
    assert len(offsets) == 4 and set(offsets.values()) == {None}  # four partitions, no commits
    assert again == [b"v0", b"v1", b"v2"]
    assert after_commit == 2
