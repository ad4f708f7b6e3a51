"""Re-routing: enriched articles already on ``wirestream.enriched`` → the topics a
(changed) routes file names, without running the NLP again.

The worker routes each article as it enriches it (``agents.enrich``), which keeps the
path from input to routed topics to one hop. When the routes change, ``wirestream
reroute`` runs :func:`reroute` once over what ``wirestream.enriched`` holds: each record
goes only to the topics the new routes add, and the topics they drop get a tombstone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from agents.deadletter import Received, refuse
from agents.routing import Routes
from streams import codecs
from streams.consume import open_consumer, polls
from streams.settings import Settings
from streams.sources import producer_options
from streams.topics import DEADLETTER, ENRICHED


def route(value: bytes | None, routes: Routes) -> tuple[list[str], bytes]:
    """The topics one enriched record goes to (``wirestream.enriched`` itself, the
    input, left out) and the record re-encoded with ``routes`` set to all its topics.
    Raises ``ValueError`` for a value that is not an enriched record."""
    record = codecs.loads(value or b"")
    if not isinstance(record, dict) or "id" not in record:
        raise ValueError("not an enriched record")
    record["routes"] = routes.match(record)
    return [t for t in record["routes"] if t != ENRICHED], codecs.dumps(record)


@dataclass(frozen=True)
class Change:
    """What re-routing does to one enriched record: the topics the new routes add (the
    record is sent there), those they drop (a tombstone goes there) and the record with
    its ``routes`` field rewritten (sent to ``wirestream.enriched`` when anything changed)."""

    add: list[str]
    remove: list[str]
    value: bytes

    @property
    def changed(self) -> bool:
        return bool(self.add or self.remove)


def plan(value: bytes | None, routes: Routes) -> Change:
    """Compare the topics a record went to (its ``routes`` field) with those ``routes``
    name now. A record without a ``routes`` list goes to every topic named now.
    Raises ``ValueError`` for a value that is not an enriched record."""
    record = codecs.loads(value or b"")
    if not isinstance(record, dict) or "id" not in record:
        raise ValueError("not an enriched record")
    before = record.get("routes")
    new = routes.match(record)
    record["routes"] = new
    now = [t for t in new if t != ENRICHED]
    if not isinstance(before, list):
        return Change(now, [], codecs.dumps(record))
    old = [t for t in before if isinstance(t, str) and t != ENRICHED]
    return Change(
        [t for t in now if t not in old], [t for t in old if t not in now], codecs.dumps(record)
    )


@dataclass
class RerouteReport:
    """What :func:`reroute` did. ``sent``: records per topic the new routes add;
    ``tombstones``: per topic they drop; ``updated``: records written again to
    ``wirestream.enriched`` with their new ``routes``; ``unchanged``: records whose
    topics stay the same; ``read``: records read (the last one per key counts)."""

    sent: Counter[str] = field(default_factory=Counter)
    tombstones: Counter[str] = field(default_factory=Counter)
    updated: int = 0
    unchanged: int = 0
    deadlettered: int = 0
    read: int = 0


async def _latest(
    settings: Settings, producer: AIOKafkaProducer
) -> tuple[dict[Any, tuple[Received, bytes | None]], int]:
    """The last record per key on ``wirestream.enriched`` (from its start to its end
    offsets), in first-seen order, and how many records were read."""
    # The producer asks for this topic's metadata: the consumer's cluster view holds
    # no topics on Apache Kafka (it answers only the topics a client names).
    partitions = sorted(await producer.partitions_for(ENRICHED))
    tps = [TopicPartition(ENRICHED, p) for p in partitions]
    latest: dict[Any, tuple[Received, bytes | None]] = {}
    read = 0
    async with open_consumer(settings, partitions=tps, start="beginning") as consumer:
        async for records in polls(consumer, poll_ms=1000, until_end=True):
            for m in records:
                read += 1
                msg = Received(m.key, m.value, m.topic, m.partition, m.offset, m.timestamp / 1000)
                # A key is always in one partition, so a later offset is a later record.
                key = m.key if m.key is not None else (m.partition, m.offset)
                latest.pop(key, None)
                latest[key] = (msg, m.value)
    return latest, read


async def reroute(settings: Settings, routes: Routes) -> RerouteReport:
    """Re-route what ``wirestream.enriched`` holds under ``routes``, without duplicates.

    For the last record of each key: send it to the topics ``routes`` add compared with
    its ``routes`` field, send a tombstone (the key with a null value) to the topics they
    drop, and write it again to ``wirestream.enriched`` with the new ``routes`` (so a
    second run with the same routes sends nothing). A record that is not an enriched
    record goes to the dead-letter topic (``invalid_enriched``); a tombstone is skipped.
    """
    producer = AIOKafkaProducer(**{**producer_options(settings), "client_id": "wirestream-reroute"})
    await producer.start()
    report = RerouteReport()
    try:
        latest, report.read = await _latest(settings, producer)
        pending = []
        for msg, value in latest.values():
            if value is None:
                continue  # deleted
            try:
                change = plan(value, routes)
            except (ValueError, KeyError, TypeError) as exc:
                record = refuse(msg, "invalid_enriched", f"cannot route: {exc}")
                pending.append(await producer.send(DEADLETTER, codecs.dumps(record), key=msg.key))
                report.deadlettered += 1
                continue
            if not change.changed:
                report.unchanged += 1
                continue
            for topic in change.add:
                pending.append(await producer.send(topic, change.value, key=msg.key))
                report.sent[topic] += 1
            for topic in change.remove:
                pending.append(await producer.send(topic, None, key=msg.key))
                report.tombstones[topic] += 1
            pending.append(await producer.send(ENRICHED, change.value, key=msg.key))
            report.updated += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return report
