"""Shared test helpers: the test broker's engine, free ports, reading topics from the
beginning, the seeds."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.broker import LocalBroker, local_broker
from streams.consume import open_consumer, polls
from streams.settings import Settings
from streams.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
#: Set by ``--broker-engine`` (tests/conftest.py) or by the caller.
ENGINE_ENV = "WIRESTREAM_TEST_ENGINE"


def seed_counts(seeds: Path = SEEDS) -> tuple[int, int]:
    """(messages, articles) that ``publish seeds/`` sends: every item of every seed file,
    versions and kills included, and the distinct article ids among them (``run``'s
    "all N articles routed" counts ids: every version of a story has the same one)."""
    from streams.sources import find_files, load_items

    items = [item for path in find_files([seeds]) for item in load_items(path)]
    return len(items), len({item.article.id for item in items})


def create_topics(settings: Settings) -> list[str]:
    """Create the pipeline's topics and the routed ones its routes file names."""
    from agents.routing import pipeline_topics

    return asyncio.run(ensure_topics(settings, pipeline_topics(settings)))


def broker_engine() -> str:
    """``tansu`` or ``kafka``: the engine of the brokers the tests start."""
    engine = os.environ.get(ENGINE_ENV, "tansu") or "tansu"
    if engine not in ("tansu", "kafka"):
        raise ValueError(f"{ENGINE_ENV}={engine!r}: choose tansu or kafka")
    return engine


def on_kafka() -> bool:
    return broker_engine() == "kafka"


def new_broker(data_dir: Path, port: int = 0) -> LocalBroker:
    """A broker of the test engine on ``port`` (0: a free one), not started. Apache Kafka
    keeps its data in ``data_dir`` (a second broker on the same directory finds it);
    Tansu keeps nothing."""
    return local_broker(broker_engine(), port, data_dir=data_dir)


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
    records: list[Record] = []
    async with open_consumer(servers, list(topics), metadata_max_age_ms=1000) as consumer:
        quiet = idle if until is None and idle else None
        async for batch in polls(consumer, poll_ms=300, timeout=timeout, idle=quiet):
            for m in batch:
                try:
                    value = orjson.loads(m.value) if m.value else None
                except orjson.JSONDecodeError:
                    value = None
                key = m.key.decode("utf-8", "replace") if m.key is not None else None
                records.append(Record(m.topic, m.partition, m.offset, key, value, m.value))
            if until is not None and until(records):
                break
    return records


def read(servers: list[str], topics: Iterable[str], **kwargs: Any) -> list[Record]:
    """Synchronous :func:`read_topics`."""
    return asyncio.run(read_topics(servers, list(topics), **kwargs))


@dataclass
class WorkerProcess:
    """A ``wirestream worker`` subprocess with its log file."""

    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90.0, after: int = 0) -> None:
        """Wait for the worker's n-th "Ready" (``after`` = how many there were before)."""
        deadline = time.monotonic() + timeout
        while self.log_text().count("[^Worker]: Ready") <= after:
            if not self.alive():
                raise RuntimeError(f"worker exited early:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"worker not ready after {timeout} s:\n{self.log_text()[-3000:]}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> float:
        """SIGTERM and wait; returns the seconds it took to exit."""
        start = time.monotonic()
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - start


def start_worker(env: dict[str, str], log: Path, *, ready: bool = True) -> WorkerProcess:
    """Start ``python -m streams.cli worker`` with ``env``, logging to ``log`` (appended)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(process, log)
    if ready:
        try:
            worker.wait_ready()
        except BaseException:
            worker.kill()  # never left running behind a failed start
            raise
    return worker


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``wirestream ARGS`` as a user would (``python -m streams.cli``, from the checkout)."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def worker_env(broker_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for CLI and worker subprocesses pointed at ``broker_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    env.update(
        WIRESTREAM_BROKER=broker_url,
        WIRESTREAM_DATA_DIR=str(data_dir),
        WIRESTREAM_WEB_PORT=str(free_port()),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


#: One event trigger word for most tags of nlp/data/taxonomy.toml (plus phrases and the
#: context words some triggers need), for articles with many events in one sentence.
TRIGGER_WORDS = [
    "statement",
    "claim",
    "deny",
    "condolence",
    "urge",
    "pledge",
    "talk",
    "visit",
    "mediate",
    "negotiation",
    "praise",
    "resign",
    "release",
    "withdraw",
    "investigate",
    "criticise",
    "accuse",
    "reject",
    "protest",
    "riot",
    "sanction",
    "arrest",
    "trial",
    "deport",
    "attack",
    "kidnap",
    "murder",
    "bombing",
    "assassinate",
    "clash",
    "airstrike",
    "massacre",
    "rape",
    "sarin",
    "dispersal",
    "mob",
    "loot",
    "recapture",
    "overrun",
    "handover",
    "surrender",
    "election",
    "earthquake",
    "collision",
    "epidemic",
    "smuggle",
    "firefighter",
    "displace",
    "armistice",
    "summit",
    "defection",
    "behead",
    "walkout",
    "ultimatum",
]
TRIGGER_PHRASES = (
    "trade agreement",
    "joint exercise",
    "humanitarian aid",
    "military exercise",
    "diplomatic relation",
    "suicide bomber",
    "shell",
    "violate ceasefire",
    "memorandum of understanding",
    "interest rate",
    "stock market",
    "base",
    "de-escalation",
)


def trigger_sentence(chars: int) -> str:
    """One sentence of about ``chars`` characters (no sentence break) naming every trigger
    above, padded evenly with words that trigger nothing: its article gets about 60
    events, and each event carries the whole sentence as its ``sentence_text``."""
    parts = [f"the {w}" for w in (*TRIGGER_WORDS, *TRIGGER_PHRASES)]
    filler = " and the officials from the northern provinces who spoke to reporters on the road"
    per = max(0, (chars - sum(len(p) + 5 for p in parts)) // len(parts))
    pad = (filler * (per // len(filler) + 1))[:per]
    body = " and ".join(p + pad for p in parts)
    return f"The ministry said {body} and the civilian prisoner worker village factory court"


async def committed_offsets(
    servers: Iterable[str], group: str, topic: str | None = None
) -> dict[TopicPartition, int]:
    """A consumer group's committed offsets (on ``topic`` only, when given)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=list(servers))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if topic in (None, tp.topic)}
