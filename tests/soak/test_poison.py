"""Hostile input: 10,000 malformed or adversarial raw messages, interleaved with valid
articles, written straight to the input topic. Every bad one must land on the
dead-letter topic under its own key with a machine-readable reason and its original
bytes (or a truncated copy plus the size); every valid one must be enriched; the worker
must never restart."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.routing import ENRICHED
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER
from tests.helpers import create_topics, new_broker, on_kafka, read, start_worker, worker_env

pytestmark = pytest.mark.soak

HOSTILE = 10_000
VALID_EVERY = 20  # one valid article after every 20 hostile ones
LIMIT = 1_000_000  # the default WIRESTREAM_MAX_ARTICLE_BYTES

Case = tuple[str, Callable[[random.Random, int], bytes | None]]

CASES: list[Case] = [
    ("invalid_json", lambda r, i: b'{"headline": "cut off", "body": "' + b"x" * r.randint(0, 50)),
    # Starts with "{" and ends with "]": never valid JSON, whatever lies between.
    ("invalid_json", lambda r, i: b"{" + bytes(r.choice(b"{}[]:,\"'") for _ in range(40)) + b"]"),
    ("invalid_utf8", lambda r, i: b"\xff" + bytes(r.randint(128, 255) for _ in range(30))),
    ("invalid_utf8", lambda r, i: b'{"headline": "caf\xe9", "body": "x"}'),
    ("not_an_object", lambda r, i: orjson.dumps(r.choice([[1, 2], "text", 42, None, True]))),
    ("missing_field", lambda r, i: orjson.dumps({"body": "no headline"})),
    ("missing_field", lambda r, i: orjson.dumps({"headline": "no body"})),
    ("wrong_type", lambda r, i: orjson.dumps({"headline": ["list"], "body": "x"})),
    ("wrong_type", lambda r, i: orjson.dumps({"headline": "h", "body": {"nested": 1}})),
    ("wrong_type", lambda r, i: orjson.dumps({"headline": "h", "body": "b", "id": [1]})),
    ("empty_field", lambda r, i: orjson.dumps({"headline": " \t", "body": "x"})),
    ("empty", lambda r, i: b""),
    ("empty", lambda r, i: None),
    ("control_characters", lambda r, i: orjson.dumps({"headline": "h\x00\x1b[31m", "body": "x"})),
    ("invalid_json", lambda r, i: b"[" * 3000 + b"]" * 3000),  # deeper than orjson allows
    ("invalid_json", lambda r, i: b'{"a":' * 2000 + b"1" + b"}" * 2000),
    (
        "invalid_date",
        lambda r, i: orjson.dumps({"headline": "h", "body": "b", "published_at": "32/13/2026"}),
    ),
    (
        "invalid_language",
        lambda r, i: orjson.dumps({"headline": "h", "body": "b", "language": "x" * 20}),
    ),
    ("invalid_id", lambda r, i: orjson.dumps({"headline": "h", "body": "b", "id": "x" * 500})),
]
#: Apache Kafka refuses records over its message.max.bytes (about 1 MB by default) at
#: produce time (tests/integration/test_broker_quirks.py), so there the biggest hostile
#: article is just over the worker's limit; Tansu takes 10 MB.
HUGE_BODY = 1_030_000 if on_kafka() else 10_000_000
BIG: list[Case] = [
    ("too_large", lambda r, i: orjson.dumps({"headline": "big", "body": "y" * HUGE_BODY})),
    ("too_large", lambda r, i: b"\x00" * (LIMIT + 1)),
]


def valid(i: int) -> bytes:
    # Many capitalised names: a stress for NER and canonicalisation.
    names = " and ".join(f"Minister Alpha{i}x{k} Bravo" for k in range(60))
    return orjson.dumps(
        {
            "id": f"ok-{i}",
            "headline": f"Ministers meet in Vienna {i}",
            "body": f"{names} met in Vienna on Tuesday.",
            "language": "en",
        }
    )


async def produce(servers: list[str]) -> tuple[dict[str, tuple[str, bytes | None]], list[str]]:
    rng = random.Random(20261128)
    bad: dict[str, tuple[str, bytes | None]] = {}
    good: list[str] = []
    producer = AIOKafkaProducer(bootstrap_servers=servers, max_request_size=12_000_000, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(HOSTILE):
            # Only a few 10 MB messages: they are slow to move, not interesting in bulk.
            code, make = BIG[i % 2] if i % 2500 == 0 else CASES[i % len(CASES)]
            value = make(rng, i)
            key = f"bad-{i:05d}"
            bad[key] = (code, value)
            futures.append(await producer.send(ARTICLES, value, key=key.encode()))
            if i % VALID_EVERY == VALID_EVERY - 1:
                good.append(f"ok-{i}")
                futures.append(await producer.send(ARTICLES, valid(i), key=f"ok-{i}".encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return bad, good


def test_ten_thousand_hostile_messages(tmp_path: Path) -> None:
    broker = new_broker(tmp_path / "broker").start()
    with contextlib.ExitStack() as stack:
        stack.callback(broker.stop)
        servers = [f"127.0.0.1:{broker.port}"]
        create_topics(Settings(broker=broker.url))
        worker = start_worker(worker_env(broker.url, tmp_path), tmp_path / "worker.log")
        stack.callback(worker.stop)  # also when an assertion fails
        pid = worker.process.pid
        bad, good = asyncio.run(produce(servers))

        def done(records: list) -> bool:
            return sum(1 for r in records if r.topic == DEADLETTER) >= len(bad) and sum(
                1 for r in records if r.topic == ENRICHED
            ) >= len(good)

        records = read(servers, [DEADLETTER, ENRICHED], until=done, timeout=600)
        dead = {r.key: r.value for r in records if r.topic == DEADLETTER}
        enriched = {r.key for r in records if r.topic == ENRICHED}
        assert set(dead) == set(bad), f"missing: {sorted(set(bad) - set(dead))[:10]}"
        for key, (code, value) in bad.items():
            record = dead[key]
            assert record["reason"]["code"] == code, (key, record["reason"])
            raw = value or b""
            assert record["payload_size"] == len(raw)
            copy = record["payload"] or ""
            kept = (
                base64.b64decode(copy) if record["payload_encoding"] == "base64" else copy.encode()
            )
            assert raw.startswith(kept) and (record["payload_truncated"] or kept == raw)
        assert enriched == set(good)
        assert worker.alive() and worker.process.pid == pid
        assert worker.log_text().count("[^Worker]: Ready") == 1  # never restarted
