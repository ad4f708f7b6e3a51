"""Outputs that cannot be lost, on the embedded broker.

An article whose events repeated a 70,000-character sentence made an enriched record of
about 4 MB (over any producer's limit). The NLP's caps (nlp/data/limits.toml: 4,000
tokens read, sentences of at most 200 tokens) now keep that record near 95 KB, under the
limit without shrinking (shrinking is tested in tests/agents/test_enrich.py and
tests/agents/test_outputs.py). Sent in one batch with valid neighbours and an
article too large to send even shrunk, every article must be enriched or dead-lettered
with its reason, and the worker must keep running. A batch whose send fails (a fault
injected in the worker's producer) must not be committed: the worker stops, and the
restarted worker enriches the whole batch.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import jsonschema
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.routing import ENRICHED
from schemas.records import json_schema
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER
from tests.helpers import (
    ROOT,
    create_topics,
    free_port,
    read,
    start_worker,
    trigger_sentence,
    worker_env,
)
from tests.integration.conftest import MAX_OUTPUT_BYTES, Worker

pytestmark = pytest.mark.integration

FAULTS = Path(__file__).resolve().parent / "faults"


def neighbour(ident: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "id": ident,
            "headline": f"Dock workers in port {n} walk out over pay",
            "body": f"Workers at container terminal {n} in Rotterdam stopped work on Monday "
            "after talks with the port operator on pay broke down, the union said.",
            "language": "en",
        }
    )


async def produce(servers: list[str], messages: list[tuple[str, bytes]]) -> dict[str, tuple]:
    """Send all ``messages`` (key, value) at once, so that the worker takes them as one
    batch; return key → (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, max_request_size=1_048_576, linger_ms=50)
    await producer.start()
    try:
        futures = [await producer.send(ARTICLES, v, key=k.encode()) for k, v in messages]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {k: (m.partition, m.offset) for (k, _), m in zip(messages, metas, strict=True)}


def test_a_record_too_large_to_send_loses_nothing_of_its_batch(
    worker: Worker, settings: Settings
) -> None:
    run = uuid.uuid4().hex[:8]
    big = f"many-events-{run}"
    huge = f"too-large-{run}"
    neighbours = [f"neighbour-{run}-{n}" for n in range(14)]
    sentence = trigger_sentence(70_000)
    messages = [(k, neighbour(k, n)) for n, k in enumerate(neighbours[:7])]
    messages.append(
        (big, orjson.dumps({"id": big, "headline": "Ministry update", "body": sentence}))
    )
    too_large = {"id": huge, "headline": "Un texte", "body": "mot " * 40_000, "language": "fr"}
    messages.append((huge, orjson.dumps(too_large)))
    messages += [(k, neighbour(k, n)) for n, k in enumerate(neighbours[7:], 7)]
    assert len(messages) == 16  # one batch of WIRESTREAM_BATCH_SIZE
    pid = worker.process.pid
    where = asyncio.run(produce(settings.bootstrap_servers, messages))
    keys = {k for k, _ in messages}

    def done(records: list) -> bool:
        return keys <= {r.key for r in records if r.topic in (ENRICHED, DEADLETTER)}

    records = read(settings.bootstrap_servers, [ENRICHED, DEADLETTER], until=done, timeout=240)
    ours = [r for r in records if r.key in keys]
    enriched = {r.key: r for r in ours if r.topic == ENRICHED}
    dead = {r.key: r for r in ours if r.topic == DEADLETTER}
    assert set(enriched) == {big, *neighbours}, f"missing: {keys - set(enriched) - set(dead)}"
    assert set(dead) == {huge}

    record = enriched[big].value
    jsonschema.validate(record, json_schema("enriched-article.v3"))
    assert record["body"] == sentence
    in_body = [e for e in record["events"] if e["sentence"] >= 1]  # 0 is the headline
    assert len(in_body) >= 15
    assert "shrunk" not in record
    assert record["truncated"] is True
    assert record["limits"] == ["max_tokens", "max_sentence_tokens"]
    assert all(e["sentence_text"] in sentence for e in in_body)
    assert enriched[big].raw is not None and len(enriched[big].raw) <= MAX_OUTPUT_BYTES
    for key in neighbours:
        assert enriched[key].value["events"], key
        assert "shrunk" not in enriched[key].value

    letter = dead[huge].value
    jsonschema.validate(letter, json_schema("deadletter.v1"))
    assert letter["reason"]["code"] == "output_too_large"
    assert f"over the {MAX_OUTPUT_BYTES} byte output limit" in letter["reason"]["message"]
    assert (letter["origin"]["partition"], letter["origin"]["offset"]) == where[huge]
    assert worker.alive() and worker.process.pid == pid


async def committed_offsets(servers: list[str], group: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # loads the metadata
        partitions = sorted(consumer.partitions_for_topic(ARTICLES) or ())
        return {p: await consumer.committed(TopicPartition(ARTICLES, p)) for p in partitions}
    finally:
        await consumer.stop()


def test_a_failed_send_commits_nothing_and_the_batch_comes_again(tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    try:
        group = "wirestream-send-fault"
        marker = tmp_path / "fail-next-send"
        marker.touch()
        env = worker_env(
            broker.url,
            tmp_path / "data",
            WIRESTREAM_APP_ID=group,
            PYTHONPATH=os.pathsep.join([str(FAULTS), str(ROOT)]),
            FAULT_FAIL_SEND_MARKER=str(marker),
        )
        settings = Settings(broker=env["WIRESTREAM_BROKER"])
        create_topics(settings)
        log = tmp_path / "worker.log"
        first = start_worker(env, log)
        keys = [f"batch-{n}" for n in range(6)]
        where = asyncio.run(
            produce(settings.bootstrap_servers, [(k, neighbour(k, n)) for n, k in enumerate(keys)])
        )
        try:
            first.process.wait(timeout=90)
        finally:
            first.stop()
        assert first.process.returncode != 0
        assert not marker.exists()  # the fault happened
        text = log.read_text(errors="replace")
        assert "sending the outputs of a batch of" in text
        assert "injected fault" in text

        sent = read(settings.bootstrap_servers, [ENRICHED], idle=3.0, timeout=20)
        before = {r.key for r in sent}
        committed = asyncio.run(committed_offsets(settings.bootstrap_servers, group))
        lost = [k for k in keys if k not in before]
        assert lost, "the failed batch must hold at least the article whose send failed"
        for key in lost:  # never committed past an article that went nowhere
            partition, offset = where[key]
            assert committed[partition] is None or committed[partition] <= offset, (
                key,
                where[key],
                committed,
            )

        start = time.monotonic()
        second = start_worker(env, log)
        try:
            records = read(
                settings.bootstrap_servers,
                [ENRICHED],
                until=lambda rs: set(keys) <= {r.key for r in rs},
                timeout=120,
            )
            assert set(keys) <= {r.key for r in records}, time.monotonic() - start
            assert second.alive()
        finally:
            second.stop()
    finally:
        broker.stop()
