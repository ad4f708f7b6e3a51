"""Throughput benchmark: how close the streaming pipeline gets to the NLP limit.

Pipeline mode (the default) runs, for each worker count K: a fresh broker, K
``wirestream worker`` processes, N corpus articles published to ``wirestream.articles``
and read back from ``wirestream.enriched``; then the same enrichment code on the same
articles in K plain processes, without Kafka. Publish mode times the real
``wirestream publish`` command on generated articles.

    python bench/throughput.py --articles 2000 --workers 1 2 --json /tmp/throughput.json
    python bench/throughput.py publish --articles 50000

See bench/README.md for every flag and what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from agents.routing import pipeline_topics
from schemas.validation import InvalidArticle, article_from_dict
from streams.broker import LocalBroker, free_port, local_broker
from streams.consume import Isolation, Start, open_consumer, polls
from streams.settings import Settings, kafka_options
from streams.sources import producer_options
from streams.topics import ARTICLES, DEADLETTER, ENRICHED, ensure_topics

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "reuters21578" / "reuters21578.jsonl"
#: Seconds for every worker to log "Ready" (imports and model loading).
READY_TIMEOUT = 120.0
#: Seconds, after every worker is ready, for the consumer group to settle.
SETTLE_TIMEOUT = 60.0
#: Seconds for the warm-up articles (one per partition) to come out enriched.
WARMUP_TIMEOUT = 120.0
#: Seconds to wait for the routed copies once every article is enriched.
ROUTED_TIMEOUT = 30.0
#: Seconds a worker gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_JOINED = re.compile(r"Joined group '[^']*' \(generation (\d+)\)")
_ASSIGNED = "Setting newly assigned partitions"
#: The input topic's row of the assignment table Faust logs, e.g. "| wirestream.articles | {0-3} |".
_INPUT_ROW = re.compile(r"^\|\s*" + re.escape(ARTICLES) + r"\s*\|\s*\{([^}]*)\}")
_REPORTED_SECONDS = re.compile(r"in ([0-9.]+) ?s\b")
_WORDS = (
    "minister",
    "government",
    "talks",
    "market",
    "shares",
    "prices",
    "oil",
    "bank",
    "rates",
    "said",
    "officials",
    "agreement",
    "trade",
    "exports",
    "growth",
    "vote",
    "election",
    "parliament",
    "court",
    "police",
    "report",
    "company",
    "profit",
    "quarter",
    "forecast",
    "union",
    "strike",
    "weather",
    "storm",
    "rain",
    "harvest",
    "wheat",
    "central",
    "capital",
    "city",
    "border",
    "troops",
    "ceasefire",
    "aid",
    "budget",
    "deficit",
    "inflation",
    "record",
)


# -- machine and corpus ------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """The machine the numbers come from (they are only comparable on the same one)."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def load_corpus(path: Path, count: int, tag: str) -> list[dict[str, str]]:
    """``count`` articles ``{id, headline, body, language}`` from a Reuters or BBC JSONL file.

    Reuters records have ``title``, BBC records ``headline``. Records with an empty body,
    or that the producer would refuse, are skipped. A corpus with fewer usable records is
    reused with ids suffixed ``~2``, ``~3``... Every id starts with ``tag`` so that runs
    never share keys.
    """
    usable: list[dict[str, str]] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if len(usable) >= count:
                break
            if not line.strip():
                continue
            record = orjson.loads(line)
            body = record.get("body") or ""
            if not body.strip():
                continue
            article = {
                "id": str(record.get("id", number)),
                "headline": record.get("headline") or record.get("title") or "",
                "body": body,
                "language": "en",
            }
            try:
                article_from_dict(article)
            except InvalidArticle:
                continue
            usable.append(article)
    if not usable:
        raise SystemExit(f"error: no usable articles in {path}")
    articles = []
    for index in range(count):
        source = usable[index % len(usable)]
        lap = index // len(usable)
        suffix = f"~{lap + 1}" if lap else ""
        articles.append({**source, "id": f"{tag}-{source['id']}{suffix}"})
    return articles


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``, interpolating between neighbours."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- processes ---------------------------------------------------------------------------
def child_env(overrides: dict[str, str]) -> dict[str, str]:
    """This environment plus ``WIRESTREAM_*`` overrides, with the repository importable."""
    env = dict(os.environ)
    env.update({f"WIRESTREAM_{name.upper()}": value for name, value in overrides.items()})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses; fields resume after ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of ``pid``, in MB; 0 if it has gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time used so far by ``pids`` (processes that have gone count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def partition_set(text: str) -> set[int]:
    """Partition numbers from Faust's compact form: ``"0-3, 7"`` is {0, 1, 2, 3, 7}."""
    numbers: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if low:
            numbers.update(range(int(low), int(high or low) + 1))
    return numbers


@dataclass
class GroupView:
    """What one worker's log says about its place in the consumer group."""

    ready: bool
    generation: int | None
    partitions: set[int]
    assignment_done: bool
    joins: int


@dataclass
class Worker:
    """One ``wirestream worker`` subprocess and its log file."""

    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"worker {self.process.pid} exited with {self.process.returncode}:\n"
                f"{self.text()[-3000:]}"
            )

    def view(self) -> GroupView:
        """Parse the log: last group generation, its partitions of the input topic, and
        whether Faust logged "Worker ready" after that assignment."""
        text = self.text()
        view = GroupView("Ready" in text, None, set(), False, 0)
        in_table = False
        for line in text.splitlines():
            if joined := _JOINED.search(line):
                view.generation = int(joined[1])
                view.joins += 1
                view.assignment_done = False
            elif _ASSIGNED in line:
                # A table of topics and partitions follows, up to "for group ...".
                view.partitions = set()
                view.assignment_done = False
                in_table = "for group" not in line
            elif in_table:
                if row := _INPUT_ROW.match(line):
                    view.partitions = partition_set(row[1])
                in_table = "for group" not in line
            elif "Worker ready" in line:
                view.assignment_done = True
        return view

    def problems(self) -> tuple[list[str], int]:
        """Error lines (``[ERROR]`` and tracebacks) and the number of warnings in the log."""
        lines = self.text().splitlines()
        errors = [line for line in lines if "[ERROR]" in line or line.startswith("Traceback")]
        return errors, sum("[WARNING]" in line for line in lines)


def start_workers(count: int, env: dict[str, str], workdir: Path) -> list[Worker]:
    """Start ``count`` workers of one consumer group, each with its own port and data dir."""
    workers = []
    for index in range(count):
        data_dir = workdir / f"worker-{index}"
        data_dir.mkdir()
        log = workdir / f"worker-{index}.log"
        own = {
            **env,
            "WIRESTREAM_DATA_DIR": str(data_dir),
            "WIRESTREAM_WEB_PORT": str(free_port()),
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                cwd=ROOT,
                env=own,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own process group: a pool the worker starts can be killed with it,
                # and Ctrl-C reaches only this script, which then stops the workers.
                start_new_session=True,
            )
        workers.append(Worker(process, log))
    return workers


def wait_until_settled(workers: Sequence[Worker], partitions: int) -> list[GroupView]:
    """Block until every worker is ready and one group generation covers every partition."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not all(w.view().ready for w in workers):
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers not ready after {READY_TIMEOUT:g} s")
        time.sleep(0.5)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        views = [w.view() for w in workers]
        generations = {v.generation for v in views}
        covered = set().union(*(v.partitions for v in views))
        if (
            len(generations) == 1
            and None not in generations
            and all(v.assignment_done for v in views)
            and covered == set(range(partitions))
        ):
            return views
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"consumer group not settled after {SETTLE_TIMEOUT:g} s: generations "
                f"{sorted(g or -1 for g in generations)}, input partitions {sorted(covered)}"
            )
        time.sleep(0.5)


def stop_workers(workers: Sequence[Worker]) -> None:
    """SIGTERM every worker, then SIGKILL the process group of any still running after 10 s."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for worker in workers:
        try:
            worker.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait()


# -- Kafka side --------------------------------------------------------------------------
async def partition_count(settings: Settings, topic: str) -> int:
    """Number of partitions ``topic`` has on the broker (asked by a producer: a consumer's
    cluster view holds no topics on Apache Kafka until it names them)."""
    producer = AIOKafkaProducer(**kafka_options(settings))
    await producer.start()
    try:
        return len(await producer.partitions_for(topic))
    finally:
        await producer.stop()


async def prepare_topics(settings: Settings, fresh_broker: bool) -> int:
    """Create the topics; on a shared broker, make the new group start at their end.

    Returns the partition count of the input topic.
    """
    await ensure_topics(settings, pipeline_topics(settings))
    if not fresh_broker:
        # Commit the current end offsets for the new group, so that its workers skip
        # whatever earlier runs left on the input and enriched topics.
        tps = [
            TopicPartition(topic, p)
            for topic in (ARTICLES, ENRICHED)
            for p in range(await partition_count(settings, topic))
        ]
        async with open_consumer(
            settings, partitions=tps, group=settings.app_id, start="committed"
        ) as consumer:
            await consumer.commit(await consumer.end_offsets(tps))
    return await partition_count(settings, ARTICLES)


@dataclass
class Collector:
    """Reads every output topic and records, per article id, what arrived and when."""

    consumer: Any
    #: Kafka timestamps (ms) of each enriched record, per id.
    enriched: dict[str, list[int]] = field(default_factory=dict)
    #: Routed copies each id should get (from the routes of its first enriched record).
    expected_routed: dict[str, int] = field(default_factory=dict)
    #: Kafka timestamps (ms) of each routed copy, per id.
    routed_at: dict[str, list[int]] = field(default_factory=dict)
    routed: Counter[str] = field(default_factory=Counter)
    deadletters: Counter[str] = field(default_factory=Counter)
    waiting: set[str] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async for records in polls(self.consumer, poll_ms=200):
            for message in records:
                self.record(message.topic, message)

    def record(self, topic: str, message: Any) -> None:
        key = (message.key or b"").decode("utf-8", "replace")
        if topic == ENRICHED:
            if key not in self.enriched:
                self.enriched[key] = []
                routes = orjson.loads(message.value).get("routes", [])
                self.expected_routed[key] = len([r for r in routes if r != ENRICHED])
            self.enriched[key].append(message.timestamp)
            self.waiting.discard(key)
            if not self.waiting:
                self.done.set()
        elif topic == DEADLETTER:
            self.deadletters[key] += 1
        else:
            self.routed[key] += 1
            self.routed_at.setdefault(key, []).append(message.timestamp)

    def routed_time(self, key: str) -> int | None:
        """When the article was routed: the timestamp of the routed copy that completed
        its routes (its enriched record's time if it has no routes), or None."""
        expected = self.expected_routed.get(key)
        if expected is None:
            return None
        if expected == 0:
            return min(self.enriched[key])
        stamps = sorted(self.routed_at.get(key, ()))
        return stamps[expected - 1] if len(stamps) >= expected else None

    async def wait_enriched(self, ids: Sequence[str], timeout: float) -> None:
        """Wait until every id has an enriched record, or ``timeout`` seconds."""
        self.waiting = set(ids) - self.enriched.keys()
        self.done.clear()
        if self.waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), timeout)

    async def wait_routed(self, ids: Sequence[str], timeout: float) -> None:
        """Wait until the routed copies of ``ids`` have all arrived, or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(self.routed[i] for i in ids) >= sum(self.expected_routed.get(i, 0) for i in ids):
                return
            await asyncio.sleep(0.2)


async def send_articles(
    producer: Any, articles: Sequence[dict[str, str]], rate: float | None
) -> tuple[dict[str, int], float, Counter[int]]:
    """Publish ``articles`` (as fast as possible, or ``rate`` per second) and wait for every
    ack. Returns each id's send time (also its Kafka timestamp, in ms), the seconds taken
    and how many articles went to each partition."""
    sent_ms: dict[str, int] = {}
    futures = []
    started = time.perf_counter()
    for index, article in enumerate(articles):
        if rate:
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        now_ms = time.time_ns() // 1_000_000
        sent_ms[article["id"]] = now_ms
        futures.append(
            await producer.send(
                ARTICLES, orjson.dumps(article), key=article["id"].encode(), timestamp_ms=now_ms
            )
        )
    delivered = await asyncio.gather(*futures)
    return sent_ms, time.perf_counter() - started, Counter(m.partition for m in delivered)


@dataclass
class Measured:
    """What the Kafka part of one run observed."""

    produce_articles_per_s: float
    e2e_articles_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    duplicates: int
    missing: int
    deadletters: int
    routed_records: int
    routed_expected: int
    window_s: float
    cpu_s: dict[str, float]
    per_partition: Counter[int]


async def measure(
    settings: Settings,
    articles: Sequence[dict[str, str]],
    partitions: int,
    rate: float | None,
    fresh_broker: bool,
    cpu_roots: dict[str, list[int]],
    guarantee: str = "at_least_once",
) -> Measured:
    """Warm up every partition, publish ``articles`` and read the outputs back.

    ``cpu_roots`` names processes whose CPU time (with their descendants) is reported.
    """
    # With exactly_once, outputs count once their transaction commits (read_committed).
    isolation: Isolation = "read_committed" if guarantee == "exactly_once" else "read_uncommitted"
    producer = AIOKafkaProducer(**producer_options(settings))
    await producer.start()
    # Read every output partition from its start (a fresh broker) or from its current end
    # (a shared one), with the positions fixed now, before anything is published.
    # The producer asks for each topic's metadata (a consumer's cluster view holds no
    # topics on Apache Kafka until it names them).
    tps = [
        TopicPartition(topic, p)
        for topic in pipeline_topics(settings)
        if topic != ARTICLES
        for p in await producer.partitions_for(topic)
    ]
    reading = contextlib.AsyncExitStack()
    start: Start = "beginning" if fresh_broker else "end"
    consumer = await reading.enter_async_context(
        open_consumer(settings, partitions=tps, start=start, isolation_level=isolation)
    )
    collector = Collector(consumer)
    reader = asyncio.create_task(collector.run())
    try:
        # One warm-up article per input partition: every worker has loaded its model and
        # enriched a first batch before the clock starts.
        warmup_ids = []
        for p in range(partitions):
            warm = {**articles[p % len(articles)], "id": f"{articles[0]['id']}-warmup-{p}"}
            warmup_ids.append(warm["id"])
            await producer.send_and_wait(
                ARTICLES, orjson.dumps(warm), key=warm["id"].encode(), partition=p
            )
        await collector.wait_enriched(warmup_ids, WARMUP_TIMEOUT)
        if collector.waiting:
            raise RuntimeError(f"warm-up articles not enriched after {WARMUP_TIMEOUT:g} s")

        # Taken after the warm-up, so a pool a worker starts on its first batch is included.
        cpu_pids = {
            name: [pid for root in roots for pid in process_tree(root)]
            for name, roots in cpu_roots.items()
        }
        cpu_before = {name: cpu_seconds(pids) for name, pids in cpu_pids.items()}
        bench_before = sum(os.times()[:2])
        ids = [a["id"] for a in articles]
        sent_ms, send_seconds, per_partition = await send_articles(producer, articles, rate)
        await collector.wait_enriched(ids, len(articles) / 2 + 120)
        await collector.wait_routed(ids, ROUTED_TIMEOUT)
        cpu = {
            name: round(cpu_seconds(pids) - cpu_before[name], 2) for name, pids in cpu_pids.items()
        }
        cpu["bench"] = round(sum(os.times()[:2]) - bench_before, 2)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await producer.stop()
        await reading.aclose()

    # An article counts once every routed copy its routes name has arrived.
    routed_ms = {i: collector.routed_time(i) for i in ids}
    arrived = {i: t for i, t in routed_ms.items() if t is not None}
    latencies = [arrived[i] - sent_ms[i] for i in arrived]
    first_sent = min(sent_ms.values())
    window_s = (max(arrived.values()) - first_sent) / 1000 if arrived else math.nan
    return Measured(
        produce_articles_per_s=len(articles) / send_seconds,
        e2e_articles_per_s=len(arrived) / window_s if arrived else 0.0,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        duplicates=sum(len(collector.enriched[i]) - 1 for i in arrived),
        missing=len(ids) - len(arrived),
        deadletters=sum(collector.deadletters[i] for i in ids),
        routed_records=sum(collector.routed[i] for i in ids),
        routed_expected=sum(collector.expected_routed.get(i, 0) for i in ids),
        window_s=window_s,
        cpu_s=cpu,
        per_partition=per_partition,
    )


# -- the NLP limit, without Kafka --------------------------------------------------------
def _limit_process(
    share: list[dict[str, str]],
    batch_size: int,
    max_chars: int,
    barrier: Any,
    results: Any,
) -> None:
    """One process of the limit run: load the model, wait for the others, enrich ``share``."""
    from agents.enrich import enrich, get_nlp, get_routes

    nlp, routes = get_nlp(), get_routes()
    articles = [article_from_dict(a) for a in share]
    # Warm up as the workers were: one article through the whole pipeline.
    enrich(articles[:1], nlp, routes, max_chars=max_chars, batch_size=batch_size)
    barrier.wait()
    started, cpu_started = time.monotonic(), time.process_time()
    done = 0
    for start in range(0, len(articles), batch_size):
        chunk = articles[start : start + batch_size]
        done += len(enrich(chunk, nlp, routes, max_chars=max_chars, batch_size=batch_size))
    results.put((started, time.monotonic(), done, time.process_time() - cpu_started))


def limit_rate(
    articles: Sequence[dict[str, str]], processes: int, batch_size: int, max_chars: int
) -> tuple[float, float]:
    """Articles per second that ``processes`` plain processes running ``agents.enrich.enrich``
    reach on ``articles`` (model loading not timed), and the CPU seconds they used."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes, timeout=600)
    results = context.Queue()
    shares = [list(articles[i::processes]) for i in range(processes)]
    children = [
        context.Process(
            target=_limit_process, args=(share, batch_size, max_chars, barrier, results)
        )
        for share in shares
    ]
    for child in children:
        child.start()
    try:
        finished: list[tuple[float, float, int, float]] = []
        while len(finished) < processes:
            try:
                finished.append(results.get(timeout=1))
                continue
            except queue.Empty:
                pass
            failed = [c for c in children if c.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"limit process exited with {failed[0].exitcode}")
        for child in children:
            child.join()
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
                child.join()
    elapsed = max(end for _, end, _, _ in finished) - min(start for start, *_ in finished)
    return sum(done for _, _, done, _ in finished) / elapsed, sum(cpu for *_, cpu in finished)


# -- one pipeline run --------------------------------------------------------------------
@dataclass
class RunResult:
    """One row of the table (and of the JSON ``runs`` list)."""

    guarantee: str
    workers: int
    articles: int
    partitions: int
    produce_articles_per_s: float
    e2e_articles_per_s: float
    limit_articles_per_s: float
    ratio: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rss_mb: float
    worker_processes: int
    #: Articles published to the partitions each worker was assigned.
    worker_shares: list[int]
    duplicates: int
    missing: int
    deadletters: int
    routed_records: int
    routed_expected: int
    window_s: float
    startup_s: float
    rebalances_after_settle: int
    worker_log_errors: list[str]
    worker_log_warnings: int
    cpu_s: dict[str, float]
    worker_cpu_ms_per_article: float
    limit_cpu_ms_per_article: float
    load_average_before: list[float]


def run_pipeline(
    workers: int,
    articles: Sequence[dict[str, str]],
    broker_url: str | None,
    batch_size: int | None,
    rate: float | None,
    keep_logs: Path | None,
    engine: str = "tansu",
    partitions: int | None = None,
    guarantee: str = "at_least_once",
) -> RunResult:
    """Broker, topics, K workers, one measured Kafka run; then the limit run."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    partitions_wanted = partitions or max(4, 2 * workers)
    overrides = {"partitions": str(partitions_wanted), "guarantee": guarantee}
    if batch_size is not None:
        overrides["batch_size"] = str(batch_size)
    broker: LocalBroker | None = None
    started: list[Worker] = []
    workdir = Path(tempfile.mkdtemp(prefix="wirestream-bench-"))
    try:
        if broker_url is None:
            broker = local_broker(engine, 0, data_dir=workdir / "kafka").start()
            broker_url = broker.url
        overrides.update(broker=broker_url, app_id=f"wirestream-bench-{uuid.uuid4().hex[:8]}")
        env = child_env(overrides)
        settings = Settings(
            broker=broker_url, app_id=overrides["app_id"], partitions=partitions_wanted
        )
        if batch_size is not None:
            settings = settings.model_copy(update={"batch_size": batch_size})
        partitions = asyncio.run(prepare_topics(settings, fresh_broker=broker is not None))
        if partitions < workers:
            print(f"note: {ARTICLES} has {partitions} partitions; some workers will be idle")
        clock = time.monotonic()
        started = start_workers(workers, env, workdir)
        settled = wait_until_settled(started, partitions)
        startup_s = time.monotonic() - clock
        cpu_roots = {"workers": [w.process.pid for w in started]}
        if broker is not None and broker.pid is not None:
            cpu_roots["broker"] = [broker.pid]
        measured = asyncio.run(
            measure(settings, articles, partitions, rate, broker is not None, cpu_roots, guarantee)
        )
        trees = [process_tree(w.process.pid) for w in started]
        rss_mb = max(sum(peak_rss_mb(pid) for pid in tree) for tree in trees)
        rebalances = sum(w.view().joins - v.joins for w, v in zip(started, settled, strict=True))
        errors: list[str] = []
        warnings = 0
        for worker in started:
            worker_errors, worker_warnings = worker.problems()
            errors += worker_errors
            warnings += worker_warnings
    finally:
        stop_workers(started)
        if broker is not None:
            broker.stop()
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("worker-*.log"):
                shutil.copy(log, keep_logs / f"k{workers}-{log.name}")
        shutil.rmtree(workdir, ignore_errors=True)

    limit, limit_cpu_s = limit_rate(articles, workers, settings.batch_size, settings.max_body_chars)
    return RunResult(
        guarantee=guarantee,
        workers=workers,
        articles=len(articles),
        partitions=partitions,
        produce_articles_per_s=round(measured.produce_articles_per_s, 1),
        e2e_articles_per_s=round(measured.e2e_articles_per_s, 2),
        limit_articles_per_s=round(limit, 2),
        ratio=round(measured.e2e_articles_per_s / limit, 3),
        p50_ms=round(measured.p50_ms, 1),
        p95_ms=round(measured.p95_ms, 1),
        p99_ms=round(measured.p99_ms, 1),
        rss_mb=round(rss_mb, 1),
        worker_processes=max(len(tree) for tree in trees),
        worker_shares=[sum(measured.per_partition[p] for p in v.partitions) for v in settled],
        duplicates=measured.duplicates,
        missing=measured.missing,
        deadletters=measured.deadletters,
        routed_records=measured.routed_records,
        routed_expected=measured.routed_expected,
        window_s=round(measured.window_s, 2),
        startup_s=round(startup_s, 1),
        rebalances_after_settle=rebalances,
        worker_log_errors=errors[:20],
        worker_log_warnings=warnings,
        cpu_s=measured.cpu_s,
        worker_cpu_ms_per_article=round(measured.cpu_s["workers"] * 1000 / len(articles), 1),
        limit_cpu_ms_per_article=round(limit_cpu_s * 1000 / len(articles), 1),
        load_average_before=load_before,
    )


def print_machine(machine: dict[str, Any]) -> None:
    print(
        f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        f"load average {' '.join(str(x) for x in machine['load_average'])}"
    )


def print_table(runs: Sequence[RunResult]) -> None:
    header = (
        f"{'guarantee':>13} {'workers':>7} {'articles':>8} {'produce/s':>10} {'e2e/s':>8} "
        f"{'limit/s':>8} "
        f"{'ratio':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'rss MB':>7} "
        f"{'dup':>4} {'missing':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"{r.guarantee:>13} {r.workers:>7} {r.articles:>8} {r.produce_articles_per_s:>10.0f} "
            f"{r.e2e_articles_per_s:>8.1f} {r.limit_articles_per_s:>8.1f} {r.ratio:>6.2f} "
            f"{r.p50_ms:>8.0f} {r.p95_ms:>8.0f} {r.p99_ms:>8.0f} {r.rss_mb:>7.0f} "
            f"{r.duplicates:>4} {r.missing:>7}"
        )
    for r in runs:
        cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in r.cpu_s.items())
        print(
            f"K={r.workers} {r.guarantee}: {r.partitions} partitions; "
            f"CPU in the {r.window_s:.1f} s run: {cpu}; "
            f"CPU ms/article: workers {r.worker_cpu_ms_per_article:.1f}, "
            f"limit {r.limit_cpu_ms_per_article:.1f}; "
            f"routed {r.routed_records}/{r.routed_expected}; dead letters {r.deadletters}; "
            f"{r.worker_processes} process(es) per worker; articles per worker "
            f"{'/'.join(str(n) for n in r.worker_shares)}; startup {r.startup_s:.1f} s; "
            f"rebalances after settling {r.rebalances_after_settle}; worker log errors "
            f"{len(r.worker_log_errors)}, warnings {r.worker_log_warnings}; "
            f"load average before {' '.join(str(x) for x in r.load_average_before)}"
        )
        for line in r.worker_log_errors[:5]:
            print(f"    {line[:200]}")


def scaling(runs: Sequence[RunResult]) -> dict[str, Any] | None:
    """e2e and limit rates of each K relative to the smallest K (None with one K)."""
    if len(runs) < 2:
        return None
    base = min(runs, key=lambda r: r.workers)
    return {
        "base_workers": base.workers,
        "e2e": {
            str(r.workers): round(r.e2e_articles_per_s / base.e2e_articles_per_s, 3)
            for r in runs
            if r is not base
        },
        "limit": {
            str(r.workers): round(r.limit_articles_per_s / base.limit_articles_per_s, 3)
            for r in runs
            if r is not base
        },
    }


def guarantee_cost(runs: Sequence[RunResult]) -> dict[str, float] | None:
    """Per worker count, the exactly_once e2e rate over the at_least_once one (None
    unless both were run)."""
    rates = {(r.guarantee, r.workers): r.e2e_articles_per_s for r in runs}
    cost = {
        str(k): round(rates[("exactly_once", k)] / rates[("at_least_once", k)], 3)
        for g, k in rates
        if g == "exactly_once" and ("at_least_once", k) in rates
    }
    return cost or None


def pipeline_main(args: argparse.Namespace) -> dict[str, Any]:
    machine = machine_info()
    print_machine(machine)
    corpus = Path(args.corpus)
    count = args.articles or 2000
    broker_url = args.broker or os.environ.get("WIRESTREAM_BROKER")
    runs = []
    for guarantee in args.guarantee:
        for workers in args.workers:
            articles = load_corpus(corpus, count, tag=uuid.uuid4().hex[:8])
            print(
                f"running K={workers} {guarantee}: {count} articles from {corpus.name} ...",
                flush=True,
            )
            runs.append(
                run_pipeline(
                    workers,
                    articles,
                    broker_url,
                    args.batch_size,
                    args.rate,
                    args.keep_logs,
                    args.engine,
                    args.partitions,
                    guarantee,
                )
            )
    print()
    print_table(runs)
    ratios = scaling([r for r in runs if r.guarantee == args.guarantee[0]])
    cost = guarantee_cost(runs)
    for k, value in (cost or {}).items():
        print(f"exactly_once / at_least_once e2e rate, K={k}: {value:.3f}")
    if ratios is not None:
        for k, value in ratios["e2e"].items():
            print(
                f"scaling: e2e(K={k}) / e2e(K={ratios['base_workers']}) = {value:.2f}; "
                f"limit ratio {ratios['limit'][k]:.2f}"
            )
    return {
        "machine": machine,
        "config": {
            "corpus": str(corpus),
            "rate": args.rate,
            "batch_size": args.batch_size,
            "broker": "external" if broker_url else f"local {args.engine} (fresh per run)",
            "fetch_max_wait": os.environ.get("WIRESTREAM_FETCH_MAX_WAIT", "default"),
        },
        "runs": [asdict(r) for r in runs],
        "scaling": ratios,
        "exactly_once_over_at_least_once": cost,
    }


# -- publish mode ------------------------------------------------------------------------
def synthetic_articles(path: Path, count: int, tag: str) -> int:
    """Write ``count`` generated JSONL articles of about 300 bytes; return the bytes written."""
    rng = random.Random(20_260_101)  # fixed seed: the same file every run
    size = 0
    with path.open("wb") as out:
        for index in range(count):
            headline = " ".join(rng.choices(_WORDS, k=7)).capitalize()
            body = (
                ". ".join(" ".join(rng.choices(_WORDS, k=8)).capitalize() for _ in range(3)) + "."
            )
            line = (
                orjson.dumps(
                    {
                        "id": f"{tag}-{index}",
                        "headline": headline,
                        "body": body,
                        "language": "en",
                        "source": "bench",
                    }
                )
                + b"\n"
            )
            size += len(line)
            out.write(line)
    return size


async def count_keys(settings: Settings, prefix: str, expected: int) -> int:
    """How many distinct keys starting with ``prefix`` are on the input topic."""
    seen: set[bytes] = set()
    async with open_consumer(settings, [ARTICLES]) as consumer:
        async for batch in polls(consumer, poll_ms=500, max_records=10_000, idle=10):
            seen.update(m.key for m in batch if (m.key or b"").startswith(prefix.encode()))
            if len(seen) >= expected:
                break
    return len(seen)


def publish_main(args: argparse.Namespace) -> dict[str, Any]:
    machine = machine_info()
    print_machine(machine)
    count = args.articles or 50_000
    tag = uuid.uuid4().hex[:8]
    broker_url = args.broker or os.environ.get("WIRESTREAM_BROKER")
    broker: LocalBroker | None = None
    with tempfile.TemporaryDirectory(prefix="wirestream-bench-") as tmp:
        path = Path(tmp) / "articles.jsonl"
        size = synthetic_articles(path, count, tag)
        try:
            if broker_url is None:
                broker = local_broker(args.engine, 0, data_dir=Path(tmp) / "kafka").start()
                broker_url = broker.url
            env = child_env({"broker": broker_url})
            command = [sys.executable, "-m", "streams.cli", "publish", str(path), "--quiet"]
            clock = time.perf_counter()
            done = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
            )
            wall_s = time.perf_counter() - clock
            output = (done.stdout + done.stderr).strip()
            if done.returncode != 0:
                raise RuntimeError(f"publish exited with {done.returncode}:\n{output[-3000:]}")
            # Python start-up and imports, which the wall time includes.
            clock = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", "import streams.cli, streams.sources"],
                cwd=ROOT,
                env=env,
                check=True,
            )
            startup_s = time.perf_counter() - clock
            verified = asyncio.run(count_keys(Settings(broker=broker_url), tag, count))
        finally:
            if broker is not None:
                broker.stop()
    reported = _REPORTED_SECONDS.search(output)
    reported_s = float(reported[1]) if reported else None
    result = {
        "articles": count,
        "bytes": size,
        "wall_s": round(wall_s, 2),
        "wall_articles_per_s": round(count / wall_s, 1),
        "reported_s": reported_s,
        "reported_articles_per_s": round(count / reported_s, 1) if reported_s else None,
        "startup_s": round(startup_s, 2),
        "verified_on_topic": verified,
        "cli_output": output[-500:],
    }
    print(f"wirestream publish: {count} articles, {size / count:.0f} bytes each on average")
    print(f"  wall time    {wall_s:8.2f} s  {count / wall_s:10,.0f} articles/s")
    if reported_s:
        print(f"  it reports   {reported_s:8.2f} s  {count / reported_s:10,.0f} articles/s")
    else:
        print("  it reports   no time (its output was: " + output.replace("\n", " | ") + ")")
    print(f"  start-up     {startup_s:8.2f} s  (Python and imports, included in wall time)")
    print(f"  on the topic {verified} of {count} articles")
    return {"machine": machine, "publish": result}


# -- entry point -------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "mode",
        nargs="?",
        choices=("pipeline", "publish"),
        default="pipeline",
        help="pipeline (default): workers end to end; publish: time `wirestream publish`",
    )
    p.add_argument("--articles", type=int, help="articles per run (2000; publish mode 50000)")
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        metavar="K",
        help="worker counts to run, e.g. --workers 1 2 (default 1)",
    )
    p.add_argument(
        "--corpus",
        default=str(DEFAULT_CORPUS),
        help="Reuters or BBC JSONL file (default ../shared/data/reuters21578/reuters21578.jsonl)",
    )
    p.add_argument("--rate", type=float, help="publish at R articles/s (default: flat out)")
    p.add_argument("--json", type=Path, help="write the results to this file")
    p.add_argument(
        "--broker", help="existing broker URL (default WIRESTREAM_BROKER, else a local one per run)"
    )
    p.add_argument(
        "--engine",
        choices=("tansu", "kafka"),
        default="tansu",
        help="engine of the local broker started per run (default tansu)",
    )
    p.add_argument("--partitions", type=int, help="partitions of the topics (default max(4, 2K))")
    p.add_argument(
        "--guarantee",
        nargs="+",
        choices=("at_least_once", "exactly_once"),
        default=["at_least_once"],
        help="WIRESTREAM_GUARANTEE of the workers, one run each (exactly_once: Apache Kafka"
        " only, e.g. --engine kafka --guarantee at_least_once exactly_once)",
    )
    p.add_argument("--batch-size", type=int, help="WIRESTREAM_BATCH_SIZE for workers and limit")
    p.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy the worker logs here")
    args = p.parse_args(argv)
    if args.articles is not None and args.articles < 1:
        p.error("--articles must be at least 1")
    if any(k < 1 for k in args.workers):
        p.error("--workers must be at least 1")
    if args.rate is not None and args.rate <= 0:
        p.error("--rate must be above 0")
    if args.batch_size is not None and args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the script as Ctrl-C does: workers and broker are stopped first."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.mode != "publish" and not Path(args.corpus).is_file():
        print(
            f"corpus not found: {args.corpus} (see ../shared/data/README; "
            "pass --corpus FILE, or DATA=DIR to make throughput)",
            file=sys.stderr,
        )
        return 2
    try:
        results = publish_main(args) if args.mode == "publish" else pipeline_main(args)
    except KeyboardInterrupt:
        print("interrupted; workers and broker stopped", file=sys.stderr)
        return 130
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
