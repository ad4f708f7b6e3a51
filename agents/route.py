"""Re-routing: enriched articles already on ``wirestream.enriched`` → the topics a
(changed) routes file names, without running the NLP again.

The worker routes each article as it enriches it (``agents.enrich``), which keeps the
path from input to routed topics to one hop. When the routes change, ``wirestream
reroute`` runs :func:`reroute` once over what ``wirestream.enriched`` holds.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.deadletter import Received, refuse
from agents.routing import ENRICHED, Routes
from streams import codecs
from streams.producer import producer_options
from streams.settings import Settings, kafka_options
from streams.topics import DEADLETTER


def route(value: bytes | None, routes: Routes) -> tuple[list[str], bytes]:
    """The topics one enriched record goes to (``wirestream.enriched`` itself, the
    input, left out) and the record re-encoded with ``routes`` set to all its topics.
    Raises ``ValueError`` for a value that is not an enriched record."""
    record = codecs.loads(value or b"")
    if not isinstance(record, dict) or "id" not in record:
        raise ValueError("not an enriched record")
    record["routes"] = routes.match(record)
    return [t for t in record["routes"] if t != ENRICHED], codecs.dumps(record)


async def reroute(settings: Settings, routes: Routes) -> Counter[str]:
    """Send every record on ``wirestream.enriched`` (from its start until it is quiet) to
    the topics ``routes`` names; one that is not an enriched record goes to the dead-letter
    topic (``invalid_enriched``). Returns how many records went to each topic."""
    consumer = AIOKafkaConsumer(**kafka_options(settings), group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(**{**producer_options(settings), "client_id": "wirestream-reroute"})
    await consumer.start()
    await producer.start()
    sent: Counter[str] = Counter()
    try:
        # The producer asks for this topic's metadata: the consumer's cluster view holds
        # no topics on Apache Kafka (it answers only the topics a client names).
        partitions = sorted(await producer.partitions_for(ENRICHED))
        tps = [TopicPartition(ENRICHED, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # Some brokers (Tansu) report an end inside the last batch, so reading stops at
        # the first quiet poll after every partition has reached its reported end.
        ends = await consumer.end_offsets(tps)
        pending = []
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
            for tp, messages in batches.items():
                for m in messages:
                    try:
                        topics, value = route(m.value, routes)
                    except (ValueError, KeyError, TypeError) as exc:
                        msg = Received(
                            m.key, m.value, tp.topic, tp.partition, m.offset, m.timestamp / 1000
                        )
                        record = refuse(msg, "invalid_enriched", f"cannot route: {exc}")
                        topics, value = [DEADLETTER], codecs.dumps(record)
                    for topic in topics:
                        pending.append(await producer.send(topic, value, key=m.key))
                        sent[topic] += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
        await consumer.stop()
    return sent
