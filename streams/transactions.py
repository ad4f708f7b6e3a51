"""Exactly-once on Apache Kafka (``WIRESTREAM_GUARANTEE=exactly_once``).

:class:`TransactionalSender` sends a batch's outputs and commits its input offsets in
ONE Kafka transaction (aiokafka's transactional producer: ``begin_transaction``, the
sends, ``send_offsets_to_transaction``, ``commit_transaction``). A read_committed
consumer then sees each output of an input record exactly once, however often the
worker is killed: a transaction cut short is aborted (by the broker, or by the next
producer with the same transactional id, which fences the old one), and its input
records are read again from the offsets that the last committed transaction stored.

The worker's own Faust commit path is switched off in this mode
(:func:`streams.app.configure_for_broker`), so no offset is committed outside a
transaction. The sender also drops input records at offsets below those it has
committed itself: after a rebalance (a broker restart) Faust seeks back to the
committed offsets, which may deliver a batch again that a retried transaction has
committed meanwhile.

The agent calls it in one place (``agents.enrich.send_outputs``); nothing here imports
Faust, so the sink seam can take it over as it is.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
    UnsupportedVersionError,
)

from streams.settings import Settings, kafka_options

log = logging.getLogger(__name__)

#: On top of ``WIRESTREAM_MAX_OUTPUT_BYTES`` (as :data:`streams.app.RECORD_OVERHEAD`).
RECORD_OVERHEAD = 16_384
#: How long one batch's transaction is retried (broker restarting) before the worker stops.
RETRY_FOR = 120.0
#: Errors after which this producer must never write again (another one took its id).
FATAL = (ProducerFenced, InvalidProducerEpoch, TransactionalIdAuthorizationFailed)

#: Shown (exit status 1) when exactly_once is asked for on the embedded broker.
TANSU_REFUSAL = (
    "WIRESTREAM_GUARANTEE=exactly_once needs Apache Kafka (transactions); the embedded "
    "Tansu broker has none: use --engine kafka / WIRESTREAM_BROKER_ENGINE=kafka, or "
    "WIRESTREAM_GUARANTEE=at_least_once"
)

Output = tuple[str, bytes | None, bytes | None]


class Fenced(RuntimeError):
    """Another producer with this worker's transactional id started: this one must stop."""


def transactional_id(settings: Settings) -> str:
    """``WIRESTREAM_TRANSACTIONAL_ID``, or ``APP_ID-eos-HOSTNAME``."""
    return settings.transactional_id or f"{settings.app_id}-eos-{socket.gethostname()}"


def next_offsets(records: Sequence[Any]) -> dict[TopicPartition, int]:
    """The offsets to commit for ``records`` (anything with topic, partition and offset):
    one past the last record of each partition."""
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    return offsets


class TransactionalSender:
    """One transactional producer per worker; :meth:`send` = one transaction per batch."""

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str | None = None,
        retry_for: float = RETRY_FOR,
        max_request_size: int | None = None,
    ) -> None:
        self.settings = settings
        self.transactional_id = transactional_id(settings)
        self.group_id = group_id or settings.app_id
        self.retry_for = retry_for
        self.max_request_size = max_request_size or settings.max_output_bytes + RECORD_OVERHEAD
        #: Next offset to read per input partition, as committed by this sender.
        self.committed: dict[TopicPartition, int] = {}
        self.transactions = 0
        self._producer: AIOKafkaProducer | None = None

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **kafka_options(self.settings),
            transactional_id=self.transactional_id,
            enable_idempotence=True,
            acks="all",
            max_request_size=self.max_request_size,
            linger_ms=0,
        )

    async def start(self) -> None:
        """Start the producer: its InitProducerId fences every older producer with the same
        transactional id and completes (aborts) a transaction one left open."""
        producer = self._new_producer()
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        log.info("exactly-once: transactional producer %r started", self.transactional_id)

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    def unseen(self, records: Sequence[Any]) -> list[Any]:
        """``records`` without those this sender has already committed (redelivered after a
        rebalance)."""
        fresh = [
            r
            for r in records
            if r.offset >= self.committed.get(TopicPartition(r.topic, r.partition), -1)
        ]
        if len(fresh) < len(records):
            log.info(
                "exactly-once: skipped %d record(s) already committed (delivered again)",
                len(records) - len(fresh),
            )
        return fresh

    async def send(self, outputs: Sequence[Output], records: Sequence[Any]) -> None:
        """Send ``outputs`` and commit the offsets after ``records`` in one transaction.

        A failed transaction is aborted and tried again (a new producer with the same id
        when the old one cannot abort) for up to ``retry_for`` seconds; then, or when the
        producer was fenced, it raises and nothing of the batch is visible to a
        read_committed consumer."""
        offsets = next_offsets(records)
        if not offsets:
            return
        deadline = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            attempt += 1
            try:
                if attempt > 1 and await self._already_committed(offsets):
                    # The last try's commit reached the coordinator (its answer did not).
                    log.info("exactly-once: the transaction tried last had committed")
                else:
                    remaining = max(deadline - time.monotonic(), 1.0)
                    await asyncio.wait_for(self._transaction(outputs, offsets), remaining)
            except FATAL as exc:
                raise Fenced(
                    f"transactional id {self.transactional_id!r} was taken over by another "
                    f"worker ({type(exc).__name__}); this one stops"
                ) from exc
            except (KafkaError, UnsupportedVersionError, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise
                log.warning(
                    "exactly-once: transaction %d of %d outputs failed (%s: %s); aborted, "
                    "trying again",
                    attempt,
                    len(outputs),
                    type(exc).__name__,
                    exc,
                )
                await self._reset()
                await asyncio.sleep(min(0.5 * attempt, 5.0))
                continue
            for tp, offset in offsets.items():
                self.committed[tp] = max(self.committed.get(tp, 0), offset)
            self.transactions += 1
            return

    async def _already_committed(self, offsets: dict[TopicPartition, int]) -> bool:
        """True when the group's committed offsets already reach ``offsets``. Asked after a
        new producer with this id started, so no transaction of ours is pending."""
        from aiokafka.admin import AIOKafkaAdminClient

        if self._producer is None:
            await self.start()
        admin = AIOKafkaAdminClient(**kafka_options(self.settings), request_timeout_ms=10_000)
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(self.group_id, partitions=list(offsets))
        finally:
            await admin.close()
        return all(tp in found and found[tp].offset >= offset for tp, offset in offsets.items())

    async def _transaction(
        self, outputs: Sequence[Output], offsets: dict[TopicPartition, int]
    ) -> None:
        if self._producer is None:
            await self.start()
        producer = self._producer
        assert producer is not None
        manager = producer._txn_manager  # aiokafka keeps its fatal state there only
        if manager is not None and manager.is_fatal_error():
            raise ProducerFenced()  # a fatal error earlier (fenced): never write again
        await producer.begin_transaction()
        try:
            pending = [
                await producer.send(topic, value=value, key=key) for topic, key, value in outputs
            ]
            await asyncio.gather(*pending)
            await producer.send_offsets_to_transaction(offsets, self.group_id)
        except BaseException:
            await self._abort(producer)
            raise
        await producer.commit_transaction()

    async def _abort(self, producer: AIOKafkaProducer) -> None:
        """Abort the open transaction; if that fails too, drop the producer (the next one
        with the same id aborts the transaction when it starts)."""
        try:
            await asyncio.wait_for(producer.abort_transaction(), 30)
        except Exception as exc:  # noqa: BLE001 - any failure: start over with a new producer
            log.warning("exactly-once: abort failed (%s: %s)", type(exc).__name__, exc)
            await self._reset()

    async def _reset(self) -> None:
        """Stop the producer (best effort); the next transaction starts a new one."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 10)
            except Exception as exc:  # noqa: BLE001
                log.warning("exactly-once: producer stop failed (%s)", exc)


async def fence_predecessor(settings: Settings, timeout: float = 60.0) -> None:
    """Start and stop a transactional producer with the worker's id, before the worker's
    consumer reads its committed offsets: this waits until a transaction the previous
    worker (killed) left open or committing is finished, so those offsets are final."""
    sender = TransactionalSender(settings)
    try:
        await asyncio.wait_for(sender.start(), timeout)
    finally:
        await sender.stop()
