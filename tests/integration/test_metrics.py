"""The worker's /metrics, /healthz and /readyz on a real broker with a real worker.

A broker of its own (the session worker's group would take partitions and its counters
would see other tests' articles): a worker is started, ``/readyz`` is polled from the
start (503 while the NLP loads, then 200), articles good and bad are published, and the
scraped counters must equal what the output topics hold.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from agents.routing import pipeline_topics
from streams.broker import LocalBroker
from streams.settings import Settings
from streams.sources.readers import load_items
from streams.topics import ARTICLES, DEADLETTER, ENRICHED
from tests.helpers import (
    SEEDS,
    WorkerProcess,
    create_topics,
    free_port,
    new_broker,
    read,
    start_worker,
    worker_env,
)

BAD = [
    (b"bad-1", b"{not json"),
    (b"bad-2", b'{"body": "no headline here"}'),
    (b"bad-3", b'{"headline": "", "body": "empty headline"}'),
    (b"bad-4", b"[1, 2"),
]
EXPECTED_CODES = {"invalid_json": 2, "missing_field": 1, "empty_field": 1}


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    local = new_broker(tmp_path_factory.mktemp("ops-metrics-broker"), port=free_port())
    local.start()
    try:
        yield local
    finally:
        local.stop()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http://127.0.0.1
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(f"{base}/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def publish_raw(servers: list[str], messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(ARTICLES, value, key=key)
    finally:
        await producer.stop()


def test_readyz_turns_ready_and_metrics_match_the_topics(
    own_broker: LocalBroker, tmp_path: Path
) -> None:
    env = worker_env(own_broker.url, tmp_path / "data", WIRESTREAM_APP_ID="ops-metrics")
    settings = Settings(broker=env["WIRESTREAM_BROKER"])
    create_topics(settings)
    base = f"http://127.0.0.1:{env['WIRESTREAM_WEB_PORT']}"
    worker: WorkerProcess = start_worker(env, tmp_path / "worker.log", ready=False)
    try:
        statuses: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert worker.alive(), worker.log_text()[-3000:]
            try:
                status, body = get(f"{base}/readyz")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
                continue
            if not statuses or statuses[-1] != status:
                statuses.append(status)
            if status == 503:
                assert b"not ready" in body
            if status == 200:
                break
            time.sleep(0.05)
        assert statuses == [503, 200], statuses
        assert get(f"{base}/healthz")[0] == 200

        good = [item for path in sorted(SEEDS.glob("*.txt")) for item in load_items(path)]
        messages = [(item.key, item.value) for item in good] + BAD
        asyncio.run(publish_raw(settings.bootstrap_servers, messages))

        def done(samples: dict) -> bool:
            total = sum(
                samples.get(("wirestream_articles_total", (("outcome", o),)), 0)
                for o in ("enriched", "deadlettered", "dropped")
            )
            return total >= len(messages)

        samples = scrape(base)
        while not done(samples) and time.monotonic() < deadline + 120:
            time.sleep(0.5)
            samples = scrape(base)

        def value(name: str, **labels: str) -> float:
            return samples.get((name, tuple(sorted(labels.items()))), 0.0)

        assert value("wirestream_articles_total", outcome="enriched") == len(good)
        assert value("wirestream_articles_total", outcome="deadlettered") == len(BAD)
        assert value("wirestream_articles_total", outcome="dropped") == 0
        codes = {
            dict(labels)["code"]: v
            for (name, labels), v in samples.items()
            if name == "wirestream_deadletter_total"
        }
        assert codes == EXPECTED_CODES

        # Every routed topic's counter equals the records the topic holds.
        records = read(
            settings.bootstrap_servers,
            [t for t in pipeline_topics(settings) if t != ARTICLES],
            idle=3.0,
        )
        on_topic = Counter(r.topic for r in records if r.topic != DEADLETTER)
        routed = {
            dict(labels)["topic"]: v
            for (name, labels), v in samples.items()
            if name == "wirestream_routed_total"
        }
        assert routed == dict(on_topic)
        assert routed[ENRICHED] == len(good)
        assert len([r for r in records if r.topic == DEADLETTER]) == len(BAD)
        assert len(routed) > 3  # the seeds reach several routed topics

        assert value("wirestream_end_to_end_seconds_count") == len(messages)
        assert value("wirestream_batch_seconds_count") >= 1
        assert value("wirestream_nlp_restarts_total") == 0

        # Once the offsets are committed, the lag of every input partition is 0.
        lag: dict[str, float] = {}
        while time.monotonic() < deadline + 180:
            lag = {
                dict(labels)["partition"]: v
                for (name, labels), v in scrape(base).items()
                if name == "wirestream_consumer_lag"
            }
            if lag and not any(lag.values()):
                break
            time.sleep(0.5)
        assert set(lag) == {str(p) for p in range(settings.partitions)}
        assert set(lag.values()) == {0.0}
        assert orjson.loads(get(f"{base}/readyz")[1]) == {"status": "ready"}
    finally:
        worker.stop()
