"""Crash tests on a real broker of the test engine: workers die (kill -9), rebalance and
restart under load, and still every published article comes out on ``wirestream.enriched``.

Run with ``make soak`` on the embedded Tansu broker, ``make soak-kafka`` on Apache Kafka
(CI runs both after ``make test``). Each test starts its own broker.
Results (lost, duplicated, seconds to resume) are printed and appended as JSON lines to
``$WIRESTREAM_SOAK_REPORT`` when set, for the README's reliability table.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.routing import ENRICHED
from streams.broker import LocalBroker
from streams.consume import Isolation, open_consumer, polls
from streams.settings import Settings
from streams.topics import ARTICLES
from tests.helpers import (
    WorkerProcess,
    broker_engine,
    create_topics,
    new_broker,
    start_worker,
    worker_env,
)

pytestmark = pytest.mark.soak

ARTICLES_PER_RUN = 5000
WORDS = [
    "minister",
    "talks",
    "ceasefire",
    "storm",
    "flood",
    "market",
    "shares",
    "election",
    "court",
    "police",
    "striker",
    "goal",
    "vaccine",
    "outbreak",
    "union",
    "strike",
    "satellite",
    "climate",
    "emissions",
    "museum",
    "festival",
]


def article(i: int) -> bytes:
    words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8))
    return orjson.dumps(
        {
            "id": f"soak-{i:05d}",
            "headline": f"Report {i}: {words}",
            "body": f"Officials in Lisbon said on Monday that {words}. The agency said more "
            f"details on item {i} would follow.",
            "language": "en",
        }
    )


class Collector:
    """Reads ``topics`` (default ``wirestream.enriched``) from the beginning in a
    background thread; :meth:`record` counts each key of ``wirestream.enriched``."""

    def __init__(
        self,
        servers: list[str],
        topics: Sequence[str] = (ENRICHED,),
        isolation_level: Isolation = "read_uncommitted",
    ) -> None:
        self.servers = servers
        self.topics = list(topics)
        self.isolation_level: Isolation = isolation_level
        self.keys: Counter[str] = Counter()
        self.first_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        async with open_consumer(
            self.servers,
            self.topics,
            isolation_level=self.isolation_level,
            metadata_max_age_ms=1000,
        ) as consumer:
            async for records in polls(consumer, poll_ms=200):
                for m in records:
                    self.record(m)
                if self._stop.is_set():
                    break

    def record(self, m: Any) -> None:
        if m.topic == ENRICHED:
            key = (m.key or b"").decode()
            self.keys[key] += 1
            self.first_at.setdefault(key, time.monotonic())

    def unique(self) -> int:
        return len(self.keys)

    def wait_for(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.unique() < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.unique()} of {n} articles enriched")
            time.sleep(0.05)

    def arrivals_after(self, moment: float) -> float | None:
        later = [t for t in self.first_at.values() if t > moment]
        return min(later) - moment if later else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


async def publish(servers: list[str], n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(ARTICLES, article(i), key=f"soak-{i:05d}".encode())
            for i in range(n)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[LocalBroker, dict[str, str], Collector]]:
    broker = new_broker(tmp_path / "broker").start()
    env = worker_env(broker.url, tmp_path / "data", WIRESTREAM_APP_ID="wirestream-soak")
    create_topics(Settings(broker=broker.url))
    collector = Collector([f"127.0.0.1:{broker.port}"])
    try:
        yield broker, env, collector
    finally:
        collector.close()
        broker.stop()


def report(
    name: str, collector: Collector, resumes: list[float], extra: dict | None = None
) -> dict:
    expected = {f"soak-{i:05d}" for i in range(ARTICLES_PER_RUN)}
    result = {
        "scenario": name,
        "engine": broker_engine(),
        "articles": ARTICLES_PER_RUN,
        "lost": len(expected - set(collector.keys)),
        "duplicated": sum(n - 1 for n in collector.keys.values() if n > 1),
        "resume_s": [round(r, 1) for r in resumes],
        **(extra or {}),
    }
    print(json.dumps(result))
    path = os.environ.get("WIRESTREAM_SOAK_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(result) + "\n")
    return result


def restart(
    worker: WorkerProcess, env: dict[str, str], collector: Collector, *, kill: bool
) -> tuple[WorkerProcess, float]:
    """Stop (kill -9 or SIGTERM) and start again; return the new worker and the seconds
    from the restart until the first article it enriches."""
    if kill:
        worker.kill()
    else:
        worker.stop()
    restarted = time.monotonic()
    before = worker.log_text().count("[^Worker]: Ready")
    new = start_worker(env, worker.log, ready=False)
    new.wait_ready(after=before)
    deadline = time.monotonic() + 60
    while (resumed := collector.arrivals_after(restarted)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no article enriched within 60 s of the restart")
        time.sleep(0.05)
    return new, resumed


def test_three_kill_nine_cycles_lose_nothing(cluster: tuple, tmp_path: Path) -> None:
    broker, env, collector = cluster
    worker = start_worker(env, tmp_path / "worker.log")
    asyncio.run(publish([f"127.0.0.1:{broker.port}"], ARTICLES_PER_RUN))
    resumes = []
    for fraction in (0.2, 0.45, 0.7):
        collector.wait_for(int(ARTICLES_PER_RUN * fraction), timeout=240)
        worker, resumed = restart(worker, env, collector, kill=True)
        resumes.append(resumed)
    collector.wait_for(ARTICLES_PER_RUN, timeout=300)
    time.sleep(2)
    result = report("kill -9 x3", collector, resumes)
    worker.stop()
    assert result["lost"] == 0
    assert all(r <= 15 for r in resumes), resumes


def test_rebalance_after_one_of_two_workers_dies(cluster: tuple, tmp_path: Path) -> None:
    broker, env, collector = cluster
    first = start_worker(env, tmp_path / "first.log")
    second = start_worker(
        {**env, "WIRESTREAM_WEB_PORT": str(int(env["WIRESTREAM_WEB_PORT"]) + 1)},
        tmp_path / "second.log",
    )
    asyncio.run(publish([f"127.0.0.1:{broker.port}"], ARTICLES_PER_RUN))
    collector.wait_for(ARTICLES_PER_RUN // 3, timeout=240)
    second.kill()
    killed = time.monotonic()
    collector.wait_for(ARTICLES_PER_RUN, timeout=300)
    time.sleep(2)
    result = report(
        "2 workers, kill -9 one",
        collector,
        [],
        {"survivor_took_over_s": round(time.monotonic() - killed, 1)},
    )
    first.stop()
    assert result["lost"] == 0
    assert first.log_text().count("Setting newly assigned partitions") >= 2  # it rebalanced


def test_graceful_restart_loses_nothing_and_stops_quickly(cluster: tuple, tmp_path: Path) -> None:
    broker, env, collector = cluster
    worker = start_worker(env, tmp_path / "worker.log")
    asyncio.run(publish([f"127.0.0.1:{broker.port}"], ARTICLES_PER_RUN))
    collector.wait_for(ARTICLES_PER_RUN // 2, timeout=240)
    started = time.monotonic()
    worker, resumed = restart(worker, env, collector, kill=False)
    collector.wait_for(ARTICLES_PER_RUN, timeout=300)
    time.sleep(2)
    result = report("graceful restart", collector, [resumed])
    stop_s = worker.stop()
    assert result["lost"] == 0
    assert stop_s <= 10
    assert resumed <= 15 and time.monotonic() - started > 0
