"""Shared test helpers: free ports, reading topics from the beginning, the seeds."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_SEED = ROOT.parent / "shared" / "seeds" / "000_22ed915bf0ed7153.txt"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any
    raw: bytes | None


async def read_topics(
    servers: list[str],
    topics: Iterable[str],
    *,
    until: Any = None,
    timeout: float = 60.0,
    idle: float = 0.0,
) -> list[Record]:
    """Read ``topics`` from the beginning until ``until(records)`` is true (or, without
    ``until``, until ``idle`` seconds pass with nothing new), at most ``timeout`` s."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    records: list[Record] = []
    start = last = time.monotonic()
    try:
        while time.monotonic() - start < timeout:
            batch = await consumer.getmany(timeout_ms=300)
            for tp, messages in batch.items():
                for m in messages:
                    try:
                        value = orjson.loads(m.value) if m.value else None
                    except orjson.JSONDecodeError:
                        value = None
                    key = m.key.decode("utf-8", "replace") if m.key is not None else None
                    records.append(Record(tp.topic, tp.partition, m.offset, key, value, m.value))
                last = time.monotonic()
            if until is not None and until(records):
                break
            if until is None and idle and time.monotonic() - last > idle:
                break
    finally:
        await consumer.stop()
    return records


def read(servers: list[str], topics: Iterable[str], **kwargs: Any) -> list[Record]:
    """Synchronous :func:`read_topics`."""
    return asyncio.run(read_topics(servers, list(topics), **kwargs))
