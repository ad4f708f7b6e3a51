"""Exactly-once and broker kills on Apache Kafka (``make soak-kafka``; issue 18 items 4, 5).

* Three SIGKILLs of an ``exactly_once`` worker while it enriches 5,000 articles: a
  read_committed consumer sees every id exactly once on ``wirestream.enriched`` and on
  each routed topic its enriched record names, and nowhere else.
* The broker JVM killed with SIGKILL mid-stream and started again on the same data
  directory 10 s later, with an ``at_least_once`` and with an ``exactly_once`` worker:
  the worker rides it out (never restarted), nothing is lost (and with exactly_once
  nothing is duplicated), the group's committed offsets after the restart are at least
  those before the kill, and at the end they equal the input partitions' end offsets.

These tests need a broker that keeps data and has transactions, so they are defined only
when the test engine is ``kafka``; on Tansu, tests/integration/test_exactly_once.py
checks that exactly_once is refused. Results are printed and appended as JSON lines to
``$WIRESTREAM_SOAK_REPORT`` when set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.routing import ENRICHED, load_routes
from streams.broker import LocalBroker
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER, all_topics
from tests import helpers
from tests.helpers import (
    broker_engine,
    create_topics,
    free_port,
    new_broker,
    on_kafka,
    start_worker,
    worker_env,
)
from tests.soak.test_crash import Collector, publish

pytestmark = pytest.mark.soak

GROUP = "wirestream-eos"
ARTICLES_PER_RUN = 5000
#: Articles of each broker-kill run (about two minutes of enrichment).
BROKER_KILL_ARTICLES = 2000
BROKER_DOWN_S = 10


class Outputs(Collector):
    """Reads ``wirestream.enriched``, every routed topic and the dead-letter topic from the
    beginning with ``isolation_level=read_committed``, in a background thread."""

    def __init__(self, servers: list[str], topics: list[str]) -> None:
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        #: The topics each enriched record names (its ``routes``), by id.
        self.routes: dict[str, list[str]] = {}
        super().__init__(servers, topics, "read_committed")

    def record(self, m: Any) -> None:
        key = (m.key or b"").decode()
        self.counts[m.topic][key] += 1
        if m.topic == ENRICHED:
            self.routes.setdefault(key, orjson.loads(m.value or b"{}")["routes"])
        super().record(m)

    def enriched(self) -> int:
        return len(self.counts[ENRICHED])

    def tally(self, n: int) -> dict[str, object]:
        """Lost and duplicated ids on the enriched topic and on the routed topics."""
        expected = {f"soak-{i:05d}" for i in range(n)}
        enriched = self.counts[ENRICHED]
        routed_dup = routed_lost = routed_extra = routed_total = 0
        for key, topics in self.routes.items():
            for topic in topics:
                if topic == ENRICHED:
                    continue
                routed_total += 1
                seen = self.counts[topic][key]
                routed_lost += seen == 0
                routed_dup += max(seen - 1, 0)
        for topic, counts in self.counts.items():
            if topic in (ENRICHED, DEADLETTER):
                continue
            routed_extra += sum(1 for key in counts if topic not in self.routes.get(key, []))
        return {
            "lost": len(expected - set(enriched)),
            "duplicated": sum(c - 1 for c in enriched.values() if c > 1),
            "routed_records": routed_total,
            "routed_topics": len([t for t in self.counts if t not in (ENRICHED, DEADLETTER)]),
            "routed_lost": routed_lost,
            "routed_duplicated": routed_dup,
            "routed_unexpected": routed_extra,
            "deadlettered": sum(self.counts[DEADLETTER].values()),
        }


def output_topics(settings: Settings) -> list[str]:
    routes = load_routes(settings.routes, app_id=settings.app_id)
    return [t for t in all_topics(routes) if t != ARTICLES]


def committed_offsets(servers: list[str]) -> dict[TopicPartition, int]:
    """The group's committed offsets on ``wirestream.articles``."""
    return asyncio.run(helpers.committed_offsets(servers, GROUP, ARTICLES))


async def end_offsets(servers: list[str]) -> dict[TopicPartition, int]:
    # Subscribed, so that its metadata names the topic (Apache Kafka answers a consumer
    # that names no topic with none).
    consumer = AIOKafkaConsumer(ARTICLES, bootstrap_servers=servers, group_id=None)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(ARTICLES) or set()
        tps = [TopicPartition(ARTICLES, p) for p in sorted(partitions)]
        assert tps, f"no partitions of {ARTICLES} in the consumer's metadata"
        return dict(await consumer.end_offsets(tps))
    finally:
        # aiokafka 0.14 re-raises the CancelledError of its own cancelled task when a
        # consumer without a group stops soon after it started.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


def wait_committed_to_end(
    servers: list[str], timeout: float = 60
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Wait (up to ``timeout``) until the committed offsets equal the input's end offsets;
    return both."""
    ends = asyncio.run(end_offsets(servers))
    deadline = time.monotonic() + timeout
    while (committed := committed_offsets(servers)) != ends:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return committed, ends


def report(name: str, result: dict[str, object]) -> dict[str, object]:
    result = {
        "scenario": name,
        "engine": broker_engine(),
        "load": Path("/proc/loadavg").read_text().split()[:3],
        **result,
    }
    print(json.dumps(result))
    path = os.environ.get("WIRESTREAM_SOAK_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(result) + "\n")
    return result


def assert_exactly_once(result: dict[str, object]) -> None:
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["deadlettered"] == 0
    assert result["routed_records"] and result["routed_topics"]  # the soak articles route
    assert result["routed_lost"] == 0
    assert result["routed_duplicated"] == 0
    assert result["routed_unexpected"] == 0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[LocalBroker, Settings, Outputs]]:
    broker = new_broker(tmp_path / "broker", port=free_port()).start()
    settings = Settings(broker=broker.url, app_id=GROUP)
    create_topics(settings)
    outputs = Outputs([broker.bootstrap_servers], output_topics(settings))
    try:
        yield broker, settings, outputs
    finally:
        outputs.close()
        broker.stop()


def env_for(broker: LocalBroker, tmp_path: Path, guarantee: str) -> dict[str, str]:
    return worker_env(
        broker.url,
        tmp_path / "data",
        WIRESTREAM_APP_ID=GROUP,
        WIRESTREAM_GUARANTEE=guarantee,
        WIRESTREAM_TRANSACTIONAL_ID="soak-worker-1",
    )


if on_kafka():

    def test_three_kill_nine_cycles_exactly_once(cluster: tuple, tmp_path: Path) -> None:
        broker, _, outputs = cluster
        servers = [broker.bootstrap_servers]
        env = env_for(broker, tmp_path, "exactly_once")
        log = tmp_path / "worker.log"
        worker = start_worker(env, log)
        try:
            started = time.monotonic()
            asyncio.run(publish(servers, ARTICLES_PER_RUN))
            resumes = []
            for fraction in (0.2, 0.45, 0.7):
                outputs.wait_for(int(ARTICLES_PER_RUN * fraction), timeout=400)
                worker.kill()
                restarted = time.monotonic()
                before = worker.log_text().count("[^Worker]: Ready")
                worker = start_worker(env, log, ready=False)
                worker.wait_ready(after=before, timeout=180)
                deadline = time.monotonic() + 120
                while (resumed := outputs.arrivals_after(restarted)) is None:
                    assert time.monotonic() < deadline, "nothing enriched 120 s after restart"
                    time.sleep(0.1)
                resumes.append(round(resumed, 1))
            outputs.wait_for(ARTICLES_PER_RUN, timeout=600)
            committed, ends = wait_committed_to_end(servers)
            took = time.monotonic() - started
            time.sleep(3)  # anything sent twice would show up by now
            result = report(
                "exactly_once, worker kill -9 x3",
                {
                    "articles": ARTICLES_PER_RUN,
                    **outputs.tally(ARTICLES_PER_RUN),
                    "resume_s": resumes,
                    "seconds": round(took, 1),
                    "committed": sum(committed.values()),
                },
            )
        finally:
            worker.stop()
        assert_exactly_once(result)
        assert committed == ends
        assert sum(ends.values()) == ARTICLES_PER_RUN
        text = log.read_text(errors="replace")
        assert text.count("exactly-once: transactional producer 'soak-worker-1' started") == 4

    @pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
    def test_broker_kill_nine_mid_stream(cluster: tuple, tmp_path: Path, guarantee: str) -> None:
        broker, settings, outputs = cluster
        servers = [broker.bootstrap_servers]
        n = BROKER_KILL_ARTICLES
        worker = start_worker(env_for(broker, tmp_path, guarantee), tmp_path / "worker.log")
        started = time.monotonic()
        asyncio.run(publish(servers, n))
        outputs.wait_for(n // 3, timeout=300)
        before = committed_offsets(servers)
        assert sum(before.values()) > 0

        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)  # the JVM, no clean shutdown
        killed = time.monotonic()
        broker.stop()  # reaps the process and closes its log
        time.sleep(BROKER_DOWN_S)
        broker = new_broker(tmp_path / "broker", port=broker.port).start()
        try:
            back = time.monotonic() - killed
            deadline = time.monotonic() + 60
            while not (after := committed_offsets(servers)):
                assert time.monotonic() < deadline, "no committed offsets after the restart"
                time.sleep(0.5)
            assert set(after) == set(before)
            assert all(after[tp] >= offset for tp, offset in before.items()), (before, after)

            outputs.wait_for(n, timeout=600)
            committed, ends = wait_committed_to_end(servers)
            took = time.monotonic() - started
            time.sleep(3)
            tally = outputs.tally(n)
            assert worker.alive()
            ready = worker.log_text().count("[^Worker]: Ready")
            result = report(
                f"{guarantee}, broker kill -9 and restart after {BROKER_DOWN_S} s",
                {
                    "articles": n,
                    **tally,
                    "broker_back_s": round(back, 1),
                    "seconds": round(took, 1),
                    "committed_before_kill": sum(before.values()),
                    "committed_after_restart": sum(after.values()),
                    "committed_end": sum(committed.values()),
                },
            )
            worker.stop()
        finally:
            if worker.alive():
                worker.kill()
            broker.stop()
        assert ready == 1  # one worker start: it rode the outage out
        assert result["lost"] == 0
        assert committed == ends
        assert sum(ends.values()) == n
        if guarantee == "exactly_once":
            assert_exactly_once(result)
