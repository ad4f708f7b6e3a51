"""The NLP guard in a real worker on the embedded broker: an article that makes the NLP
overrun the deadline is dead-lettered (``enrichment_timeout``, with its origin) while
its neighbours are enriched, the worker is held about two deadlines and no longer, and
all its NLP processes (the template and the processes it forks) exit after ``kill -9``,
even one stuck in C code that holds the GIL.

Faults come from ``tests/faults/nlp/sitecustomize.py`` on the worker's PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.routing import ENRICHED
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER
from tests.helpers import ROOT, create_topics, read, start_worker, worker_env
from tests.integration.test_worker import alive, children

pytestmark = pytest.mark.integration

DEADLINE = 3.0
FAULTS = ROOT / "tests" / "faults" / "nlp"


def value(key: str, body: str = "Heavy rain flooded roads in Lisbon on Monday.") -> bytes:
    return orjson.dumps({"id": key, "headline": f"Storm hits coast {key}", "body": body})


async def publish(servers: list[str], items: list[tuple[str, bytes]]) -> dict[str, tuple]:
    """Send all at once (one batch, as far as the worker's timing allows); returns each
    key's (partition, offset, timestamp in s)."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(ARTICLES, v, key=k.encode()) for k, v in items]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    pairs = zip(items, metas, strict=True)
    return {k: (m.partition, m.offset, m.timestamp / 1000) for (k, _), m in pairs}


def descendants(pid: int) -> set[int]:
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for p in frontier for c in children(p)}
        found |= frontier
    return found


def _cpu_ticks(pid: int) -> int:
    """User CPU ticks of ``pid`` over 0.3 s (0 when it is idle or gone)."""
    try:
        before = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11])
        time.sleep(0.3)
        after = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11])
    except (OSError, IndexError, ValueError):
        return 0
    return after - before


def test_a_slow_article_costs_itself_not_its_batch_nor_the_worker(tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=0).start()
    try:
        servers = [f"127.0.0.1:{broker.port}"]
        create_topics(Settings(broker=broker.url))
        env = worker_env(
            broker.url,
            tmp_path / "data",
            WIRESTREAM_APP_ID="wirestream-guard-test",
            WIRESTREAM_NLP_DEADLINE=str(DEADLINE),
            PYTHONPATH=os.pathsep.join([str(FAULTS), str(ROOT)]),
        )
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            nlp = descendants(worker.process.pid)
            assert len(nlp) >= 2, f"no template and NLP process under the worker: {nlp}"
            # Warm: one article through, so the timing below is the guard's alone.
            asyncio.run(publish(servers, [("warm", value("warm"))]))
            read(servers, [ENRICHED], until=lambda rs: any(r.key == "warm" for r in rs))

            items = [
                ("g1", value("g1")),
                ("slow", value("slow", "Talks resumed in Geneva. FAULT:sleep:120")),
                ("g2", value("g2")),
            ]
            began = time.monotonic()
            origin = asyncio.run(publish(servers, items))

            def settled(records: list) -> bool:
                keys = {(r.topic, r.key) for r in records}
                return {(ENRICHED, "g1"), (ENRICHED, "g2"), (DEADLETTER, "slow")} <= keys

            records = read(servers, [ENRICHED, DEADLETTER], until=settled, timeout=60)
            held = time.monotonic() - began
            print(f"the slow article's batch held the worker {held:.1f} s")
            assert settled(records), [(r.topic, r.key) for r in records]
            dead = [r.value for r in records if r.topic == DEADLETTER]
            assert [d["origin"]["key"] for d in dead] == ["slow"]
            assert dead[0]["reason"] == {
                "code": "enrichment_timeout",
                "message": f"the NLP took over {DEADLINE:g} s on this article alone",
            }
            partition, offset, timestamp = origin["slow"]
            assert dead[0]["origin"] == {
                "topic": ARTICLES,
                "partition": partition,
                "offset": offset,
                "timestamp": pytest.approx(timestamp, abs=0.001),
                "key": "slow",
            }
            assert "slow" not in {r.key for r in records if r.topic == ENRICHED}
            # At least the one deadline the slow article needs to be caught, at most two
            # (its batch, then it alone) plus forks, fetches and sends.
            assert DEADLINE <= held <= 2 * DEADLINE + 6.0, held

            # The worker goes on at once: the next article is enriched within seconds.
            began = time.monotonic()
            asyncio.run(publish(servers, [("after", value("after"))]))
            read(servers, [ENRICHED], until=lambda rs: any(r.key == "after" for r in rs))
            assert time.monotonic() - began < DEADLINE
            assert worker.alive() and worker.log_text().count("[^Worker]: Ready") == 1

            # kill -9 while the NLP process is stuck in C code that holds the GIL (no
            # thread of its own can run): it must still go, with the template.
            asyncio.run(publish(servers, [("spin", value("spin", "Talks. FAULT:spin"))]))
            time.sleep(1.5)
            nlp = descendants(worker.process.pid)
            busy = [p for p in nlp if _cpu_ticks(p) > 0]
            assert len(nlp) >= 2 and busy, nlp
        finally:
            worker.kill()
        deadline = time.monotonic() + 10
        while any(alive(p) for p in nlp) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in nlp if alive(p)], "NLP processes outlived the killed worker"
    finally:
        broker.stop()
