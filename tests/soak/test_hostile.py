"""Hostile bodies among normal traffic (issue 24): one worker with the default settings
receives, after one warm-up article, 20 pathological articles interleaved with 500
normal ones, published at a steady 2 articles/s (``RATE``: below one worker's capacity).
Every normal article must be routed, each pathological one enriched or dead-lettered with
a guard reason
(``enrichment_timeout``, ``enrichment_memory``, ``enrichment_failed``), the p99 latency
of the normal ones (publish to ``wirestream.enriched``, broker timestamps) must stay
under 5 s, and the worker tree (worker + NLP process; PSS, sampled every 0.2 s) under
600 MB (the worker, the NLP template, the batch NLP process and the slow lane's).

Results (per pathological case: outcome and seconds; latency percentiles; peak
memory) are printed and appended as a JSON line to ``$WIRESTREAM_SOAK_REPORT`` when set.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.routing import ENRICHED
from streams.broker import EmbeddedBroker
from streams.consume import open_consumer, polls
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER
from tests.helpers import SEEDS, create_topics, start_worker, worker_env

# In `make soak` (CI); `make soak-hostile` runs it alone.
pytestmark = [pytest.mark.soak, pytest.mark.hostile]

NORMAL = 500
#: Articles per second (``WIRESTREAM_SOAK_RATE`` overrides it). One worker's NLP takes
#: about 0.11 s of CPU per seed article (500 tokens; docs/adversarial.md): about 9
#: articles/s on a core of its own, far fewer on this shared 2-core machine. At the
#: former 20/s the queue grew for the whole run and the p99 measured that queue (73.6 s).
#: 2/s is a busy wire feed and below capacity while the worker gets a quarter of a core:
#: what is measured is the hostile articles' effect on the normal ones.
RATE = float(os.environ.get("WIRESTREAM_SOAK_RATE", "2"))
MAX_CHARS = 100_000  # the default WIRESTREAM_MAX_BODY_CHARS
P99_LIMIT_S = 5.0
TREE_LIMIT_MB = 600
SLOW_ATTEMPT = re.compile(r"NLP ((?:process \d+|slow lane): \d+ article\(s\) in [\d.]+ s.*)")
GUARD_CODES = {"enrichment_timeout", "enrichment_memory", "enrichment_failed"}

FIRST = ["Maria", "John", "Ahmed", "Li", "Olga", "Pedro", "Aiko", "Kwame", "Sven", "Priya"]
LAST = ["Silva", "Smith", "Hassan", "Wei", "Ivanova", "Gomez", "Tanaka", "Mensah", "Berg", "Rao"]


def distinct_names(n: int) -> str:
    """n distinct "First Last" names joined by commas ("Maria Silva3, John Smith7, ...")."""
    return ", ".join(f"{FIRST[i % 10]} {LAST[i // 10 % 10]}{i // 100}" for i in range(n))


#: (name, body, language): the issue's table first, then more of the same kind.
HOSTILE: list[tuple[str, Callable[[], str], str | None]] = [
    ("line breaks", lambda: "x\n" * 50_000, "en"),
    ("emoji", lambda: "\U0001f600" * 100_000, "en"),
    ("punctuation", lambda: "!?.,;:" * 16_666, "en"),
    ("open brackets", lambda: "(" * 100_000, None),
    ("repeated name", lambda: ("John Smith, " * 17_000)[:MAX_CHARS], "en"),
    ("one place 9,000 times", lambda: " ".join(["Washington"] * 9_000), "en"),
    ("9,000 distinct names", lambda: distinct_names(9_000)[:MAX_CHARS], "en"),
    (
        "event triggers x 1,500",
        lambda: "Police arrested protesters and troops attacked the rebels. " * 1_500,
        "en",
    ),
    ("equals signs", lambda: "=" * 20_000, None),
    ("names joined by and", lambda: "John Smith and " * 1_000, None),
    ("no spaces", lambda: "a" * 100_000, "en"),
    ("one long number", lambda: "7" * 100_000, "en"),
    ("HTML junk", lambda: '<div class="x"><a href="/n">News</a></div>' * 2_300, "en"),
    ("mixed scripts", lambda: "Москва 北京 القاهرة Athína Αθήνα " * 3_200, None),
    ("tabs and carriage returns", lambda: "\t\r" * 50_000, "en"),
    ("invisible characters", lambda: "Paris\u200b\u202e\u00ad\u2060" * 11_000, "en"),
    ("abbreviations", lambda: "Mr. Dr. St. Gen. " * 5_800, "en"),
    ("one sentence, no full stop", lambda: "the minister said that " * 4_300, "en"),
    ("figures table", lambda: "Chicago 4 HOUSTON 3 CHICAGO 72 64 .529\n" * 2_500, "en"),
    ("casualty list", lambda: (distinct_names(3_000) + " were killed. ") * 2, "en"),
]
assert len(HOSTILE) == 20


def seed_articles() -> list[tuple[str, str]]:
    """(headline, body) of each seed article."""
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        out.append((lines[0], "\n".join(lines[1:])))
    return out


def messages() -> list[tuple[str, bytes, bool]]:
    """(key, value, hostile) in publishing order: one hostile article after every 25
    normal ones."""
    seeds = seed_articles()
    out: list[tuple[str, bytes, bool]] = []
    every = NORMAL // len(HOSTILE)
    for i in range(NORMAL):
        headline, body = seeds[i % len(seeds)]
        key = f"normal-{i:03d}"
        value = {"id": key, "headline": f"{headline} ({i})", "body": body, "language": "en"}
        out.append((key, orjson.dumps(value), False))
        if i % every == every // 2:
            name, make, language = HOSTILE[i // every]
            key = f"hostile-{i // every:02d}"
            hostile = {"id": key, "headline": f"Hostile: {name}", "body": make()}
            if language:
                hostile["language"] = language
            out.append((key, orjson.dumps(hostile), True))
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier]
        found.extend(frontier)
    return found


def pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` in MB (RSS where smaps_rollup is missing)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


class TreeSampler:
    """Samples the PSS of a process tree every 0.2 s in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.peak_parts: dict[int, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            parts = {p: pss_mb(p) for p in tree(self.pid)}
            total = sum(parts.values())
            self.samples += 1
            if total > self.peak:
                self.peak, self.peak_parts = total, parts

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def publish(servers: list[str], items: list[tuple[str, bytes, bool]]) -> dict[str, float]:
    """Send at RATE per second; returns each key's broker timestamp (s)."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, max_request_size=2_000_000, acks="all")
    await producer.start()
    sent: dict[str, float] = {}
    try:
        began = time.monotonic()
        for n, (key, value, _) in enumerate(items):
            await asyncio.sleep(max(0.0, began + n / RATE - time.monotonic()))
            meta = await producer.send_and_wait(ARTICLES, value, key=key.encode())
            sent[key] = meta.timestamp / 1000
    finally:
        await producer.stop()
    return sent


async def collect(
    servers: list[str], normal: set[str], hostile: set[str], timeout: float
) -> tuple[dict[str, float], dict[str, dict]]:
    """First broker timestamp (s) of each key on wirestream.enriched, and each key's
    dead letter, read until every normal key is enriched and every hostile one is
    enriched or dead-lettered (at most ``timeout`` s)."""
    enriched: dict[str, float] = {}
    dead: dict[str, dict] = {}
    async with open_consumer(
        servers,
        [ENRICHED, DEADLETTER],
        metadata_max_age_ms=1000,
        fetch_max_bytes=8_000_000,
        max_partition_fetch_bytes=8_000_000,
    ) as consumer:
        async for batch in polls(consumer, poll_ms=300, timeout=timeout):
            for m in batch:
                key = (m.key or b"").decode()
                if m.topic == ENRICHED:
                    enriched.setdefault(key, m.timestamp / 1000)
                else:
                    dead[key] = orjson.loads(m.value)
            if normal <= set(enriched) and hostile <= set(enriched) | set(dead):
                break
    return enriched, dead


def warm_up(servers: list[str]) -> None:
    """Publish one seed article and wait until it is enriched: the measured stream then
    meets a warm worker. Faust reports "Ready" before the agent has started its NLP
    processes (the template loads the models for 5-10 s, and the first batch of a new
    process is slower), so without this the first articles of the stream measured the
    worker's start, not the hostile articles' effect on the normal ones (the 15:09 run:
    p50 0.16 s, p99 6.6 s, every slow one among the first dozen)."""
    headline, body = seed_articles()[0]
    value = {"id": "warm-up", "headline": headline, "body": body, "language": "en"}
    asyncio.run(publish(servers, [("warm-up", orjson.dumps(value), False)]))
    first, _ = asyncio.run(collect(servers, {"warm-up"}, set(), timeout=180))
    assert "warm-up" in first, "the warm-up article was not enriched within 180 s"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_hostile_bodies_among_normal_traffic(tmp_path: Path) -> None:
    items = messages()
    normal = {k for k, _, hostile in items if not hostile}
    hostile = {k for k, _, h in items if h}
    assert len(normal) == NORMAL and len(hostile) == 20
    broker = EmbeddedBroker(port=0).start()
    try:
        servers = [f"127.0.0.1:{broker.port}"]
        create_topics(Settings(broker=broker.url))
        env = worker_env(broker.url, tmp_path / "data", WIRESTREAM_APP_ID="wirestream-hostile")
        worker = start_worker(env, tmp_path / "worker.log")
        sampler = TreeSampler(worker.process.pid)
        began = time.monotonic()
        try:
            warm_up(servers)
            sent = asyncio.run(publish(servers, items))
            first, dead = asyncio.run(collect(servers, normal, hostile, timeout=900))
            took = time.monotonic() - began
            alive = worker.alive()
            log_text = worker.log_text()
            ready = log_text.count("[^Worker]: Ready")
        finally:
            sampler.stop()
            worker.stop()
    finally:
        broker.stop()

    # Latency: publish to the first record on wirestream.enriched, by broker timestamps.
    enriched = set(first)
    latencies = [first[k] - sent[k] for k in normal if k in first]
    outcomes = {
        k: ("enriched" if k in enriched else dead[k]["reason"]["code"] if k in dead else "lost")
        for k in sorted(hostile)
    }
    result = {
        "scenario": "20 hostile bodies among 500 normal articles",
        "seconds": round(took, 1),
        "normal_routed": len(normal & enriched),
        "normal_dead_lettered": sorted(normal & set(dead)),
        "hostile": {
            f"{k} {HOSTILE[int(k[-2:])][0]}": (
                outcomes[k],
                round(first[k] - sent[k], 2) if k in first else None,
                dead[k]["reason"]["message"] if k in dead else None,
            )
            for k in sorted(hostile)
        },
        "p50_s": round(percentile(latencies, 0.50), 3) if latencies else None,
        "p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "peak_tree_pss_mb": round(sampler.peak, 1),
        "peak_parts_mb": {str(p): round(v, 1) for p, v in sampler.peak_parts.items()},
        "samples": sampler.samples,
        # NLP attempts of 1 s or more (agents.pool logs them): where the time went.
        "slow_attempts": SLOW_ATTEMPT.findall(log_text),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }
    print(json.dumps(result, indent=1, ensure_ascii=False))
    path = os.environ.get("WIRESTREAM_SOAK_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")

    assert alive and ready == 1, "the worker died or restarted"
    assert normal <= enriched, f"normal articles not routed: {sorted(normal - enriched)[:10]}"
    assert not normal & set(dead), f"normal articles dead-lettered: {sorted(normal & set(dead))}"
    for key in hostile:
        assert key in enriched or key in dead, f"{key} neither enriched nor dead-lettered"
        if key in dead:
            reason = dead[key]["reason"]
            assert reason["code"] in GUARD_CODES, (key, reason)
            assert dead[key]["origin"]["topic"] == ARTICLES and dead[key]["origin"]["key"] == key
    assert sampler.samples > 0
    assert len(latencies) == NORMAL
    assert percentile(latencies, 0.99) < P99_LIMIT_S, result["p99_s"]
    assert sampler.peak < TREE_LIMIT_MB, result["peak_parts_mb"]
