"""Malformed input on the real broker: every bad message lands on the dead-letter topic
under its key with a machine-readable reason and its original bytes; the worker keeps
running and enriches the valid article sent after them."""

from __future__ import annotations

import asyncio
import base64
import uuid

import jsonschema
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.routing import ENRICHED
from schemas.records import json_schema
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER
from tests.helpers import read
from tests.integration.conftest import MAX_ARTICLE_BYTES, Worker

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
VALID = orjson.dumps(
    {
        "id": f"valid-{RUN}",
        "headline": "Storm forces closure of ports along the Adriatic coast",
        "body": "Croatian authorities closed three ports on Tuesday as a storm brought winds of "
        "120 km/h to the Adriatic coast, the meteorological service said.",
        "language": "en",
    }
)
BAD: dict[str, tuple[bytes | None, str]] = {
    "truncated-json": (b'{"headline": "Markets rally", "body": "Shares', "invalid_json"),
    "binary": (b"\xff\xfe\x00\x81binary\x00", "invalid_utf8"),
    "array": (b'["headline", "body"]', "not_an_object"),
    "no-headline": (b'{"body": "A body without a headline."}', "missing_field"),
    "blank-headline": (b'{"headline": "  ", "body": "x"}', "empty_field"),
    "number-headline": (b'{"headline": 42, "body": "x"}', "wrong_type"),
    "empty": (b"", "empty"),
    "null-value": (None, "empty"),
    "control-chars": (b'{"headline": "bell\\u0007", "body": "x"}', "control_characters"),
    "bad-date": (b'{"headline": "h", "body": "b", "published_at": "yesterday"}', "invalid_date"),
    "too-large": (orjson.dumps({"headline": "h", "body": "x" * MAX_ARTICLE_BYTES}), "too_large"),
    "deep": (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    "bad-version": (
        b'{"headline": "h", "body": "b", "guid": "urn:x", "version": 0}',
        "invalid_version",
    ),
    "bad-status": (b'{"headline": "h", "body": "b", "status": "killed"}', "invalid_status"),
}


async def produce(settings: Settings) -> dict[str, tuple[int, int]]:
    """Send the bad messages then the valid one; return key → (partition, offset)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, max_request_size=4 * MAX_ARTICLE_BYTES
    )
    await producer.start()
    where = {}
    try:
        for name, (value, _) in BAD.items():
            key = f"{name}-{RUN}"
            meta = await producer.send_and_wait(ARTICLES, value, key=key.encode())
            where[key] = (meta.partition, meta.offset)
        meta = await producer.send_and_wait(ARTICLES, VALID, key=f"valid-{RUN}".encode())
        where[f"valid-{RUN}"] = (meta.partition, meta.offset)
    finally:
        await producer.stop()
    return where


def test_malformed_input_is_dead_lettered_and_worker_keeps_going(
    worker: Worker, settings: Settings
) -> None:
    pid = worker.process.pid
    where = asyncio.run(produce(settings))
    keys = {f"{name}-{RUN}" for name in BAD}

    def done(records: list) -> bool:
        got = {r.key for r in records}
        return keys <= got and f"valid-{RUN}" in got

    records = read(settings.bootstrap_servers, [DEADLETTER, ENRICHED], until=done, timeout=90)
    dead = {r.key: r.value for r in records if r.topic == DEADLETTER and r.key in keys}
    assert set(dead) == keys
    schema = json_schema("deadletter.v1")
    for name, (value, code) in BAD.items():
        key = f"{name}-{RUN}"
        record = dead[key]
        jsonschema.validate(record, schema)
        assert record["reason"]["code"] == code, (name, record["reason"])
        assert record["reason"]["message"]
        assert record["origin"]["topic"] == ARTICLES
        assert (record["origin"]["partition"], record["origin"]["offset"]) == where[key]
        assert record["origin"]["key"] == key
        raw = value or b""
        assert record["payload_size"] == len(raw)
        if name == "binary":
            assert record["payload_encoding"] == "base64"
            assert base64.b64decode(record["payload"]) == raw
        elif name == "too-large":
            assert record["payload_truncated"] is True
            assert raw.decode().startswith(record["payload"])
        elif value is not None:
            assert record["payload_encoding"] == "utf-8"
            assert record["payload"].encode() == raw

    enriched = [r for r in records if r.topic == ENRICHED and r.key == f"valid-{RUN}"]
    assert len(enriched) == 1
    assert enriched[0].value["headline"].startswith("Storm forces closure")
    assert worker.alive() and worker.process.pid == pid
