"""One consumer helper for every reader of Kafka outside the worker: ``subscribe``,
``run`` (waiting for routed records), ``reroute``, the benchmarks and the tests' readers.

It wraps aiokafka's consumer (no patching):

* :func:`open_consumer` — a started consumer with or without a group, from the beginning
  or from the end (or the committed offsets, with a group), an isolation level
  (``read_committed`` for transactional outputs), subscribed to ``topics`` or assigned
  ``partitions`` (positions fixed before anything else is published);
* :func:`polls` — the poll loop: each poll's records in (topic, partition, offset)
  order, an empty list on a quiet poll, ending after ``timeout`` seconds, after ``idle``
  quiet seconds or, with ``until_end``, once every assigned partition has reached the
  end offsets it had when reading began.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.settings import Settings, kafka_options

Isolation = Literal["read_uncommitted", "read_committed"]
Start = Literal["beginning", "end", "committed"]


def consumer_options(
    source: Settings | Sequence[str],
    *,
    group: str | None = None,
    start: Start = "beginning",
    isolation_level: Isolation = "read_uncommitted",
    **options: Any,
) -> dict[str, Any]:
    """aiokafka consumer options: connection from settings (or bootstrap servers), a group
    or none, never auto-committing; ``start`` is where a partition without a committed
    offset begins ("committed" with a group: its committed offsets, else the beginning)."""
    if isinstance(source, Settings):
        connection: dict[str, Any] = dict(kafka_options(source))
    else:
        connection = {"bootstrap_servers": list(source)}
    return {
        **connection,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "latest" if start == "end" else "earliest",
        "isolation_level": isolation_level,
        **options,
    }


@contextlib.asynccontextmanager
async def open_consumer(
    source: Settings | Sequence[str],
    topics: Sequence[str] = (),
    *,
    partitions: Sequence[TopicPartition] = (),
    group: str | None = None,
    start: Start = "beginning",
    isolation_level: Isolation = "read_uncommitted",
    **options: Any,
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer, stopped on exit: subscribed to ``topics``, or assigned
    ``partitions`` and moved to their beginning or end (``start``) at once."""
    kwargs = consumer_options(
        source, group=group, start=start, isolation_level=isolation_level, **options
    )
    consumer = AIOKafkaConsumer(*topics, **kwargs)
    await consumer.start()
    try:
        if partitions:
            consumer.assign(list(partitions))
            if start == "beginning":
                await consumer.seek_to_beginning(*partitions)
            elif start == "end":
                await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)  # fixed now, before anything else is sent
        yield consumer
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


async def polls(
    consumer: AIOKafkaConsumer,
    *,
    poll_ms: int = 500,
    max_records: int | None = None,
    timeout: float | None = None,
    idle: float | None = None,
    until_end: bool = False,
) -> AsyncIterator[list[ConsumerRecord[Any, Any]]]:
    """Poll until told to stop; yield each poll's records (sorted by topic, partition and
    offset), an empty list when a poll got nothing.

    Ends after ``timeout`` seconds in all, after ``idle`` seconds with no record, or, with
    ``until_end``, at the first quiet poll once every assigned partition has reached its
    end offset as it was when polling began. (Some brokers, Tansu, report an end inside
    the last batch, so the end alone is not enough: the quiet poll is.)
    """
    started = last = time.monotonic()
    ends: dict[TopicPartition, int] = {}
    if until_end:
        ends = await consumer.end_offsets(list(consumer.assignment()))
    while True:
        batch = await consumer.getmany(timeout_ms=poll_ms, max_records=max_records)
        now = time.monotonic()
        records = [m for tp in sorted(batch) for m in batch[tp]]
        if records:
            last = now
        elif until_end and await _at_end(consumer, ends):
            return
        yield records
        now = time.monotonic()
        if timeout is not None and now - started > timeout:
            return
        if idle is not None and now - last > idle:
            return
