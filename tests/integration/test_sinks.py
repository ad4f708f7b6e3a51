"""The sinks seam: an extra sink (tests/integration/file_sink.py, named by
WIRESTREAM_EXTRA_SINKS) beside Kafka in a real worker on its own real broker gets exactly
the records the Kafka topics got; a sink name that is not one stops the worker with one
line."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from agents.routing import pipeline_topics
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER, ENRICHED
from tests.helpers import SEEDS, cli, create_topics, read, start_worker, worker_env

SINK = "tests.integration.file_sink:make"


async def _send(servers: list[str], value: bytes, key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        await producer.send_and_wait(ARTICLES, value, key=key)
    finally:
        await producer.stop()


def _sink_lines(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_an_extra_sink_gets_exactly_what_kafka_got(tmp_path: Path) -> None:
    with EmbeddedBroker(port=0) as broker:
        settings = Settings(broker=broker.url)
        create_topics(settings)
        data = tmp_path / "data"
        env = worker_env(
            broker.url, data, WIRESTREAM_APP_ID="wirestream-sink-test", WIRESTREAM_EXTRA_SINKS=SINK
        )
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            # The unversioned seeds: versions of one story (seeds/wire) may be superseded
            # within a batch (docs/versions.md), which would make the counts below vary.
            seed_files = [str(p) for p in sorted(SEEDS.glob("*.txt"))]
            done = cli(env, "publish", *seed_files, "--quiet")
            assert done.returncode == 0, done.stderr
            seeds = int(done.stderr.split("published ", 1)[1].split()[0])
            asyncio.run(_send(settings.bootstrap_servers, b"{not json", b"bad-1"))

            sink_file = data / "sink.jsonl"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                lines = _sink_lines(sink_file)
                topics = Counter(line["topic"] for line in lines)
                if topics[ENRICHED] >= seeds and topics[DEADLETTER] >= 1:
                    break
                time.sleep(0.5)
            outputs = [t for t in pipeline_topics(settings) if t != ARTICLES]
            records = read(
                settings.bootstrap_servers,
                outputs,
                until=lambda rs: len(rs) >= len(lines),
                timeout=60,
            )
            time.sleep(1.0)  # anything sent after the reads would show up below
            lines = _sink_lines(sink_file)
        finally:
            worker.stop()

    in_sink = Counter((line["topic"], line["key"], line["value"]) for line in lines)
    in_kafka = Counter(
        (r.topic, r.key or "", r.raw.hex() if r.raw is not None else None) for r in records
    )
    assert in_sink == in_kafka
    per_topic = Counter(topic for topic, _, _ in in_sink.elements())
    assert per_topic[ENRICHED] == seeds and per_topic[DEADLETTER] == 1
    assert sum(per_topic.values()) > seeds + 1  # the seeds reach routed topics too
    [dead] = [line for line in lines if line["topic"] == DEADLETTER]
    assert dead["key"] == "bad-1"
    assert orjson.loads(bytes.fromhex(dead["value"]))["reason"]["code"] == "invalid_json"


def test_an_unknown_extra_sink_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    with EmbeddedBroker(port=0) as broker:
        create_topics(Settings(broker=broker.url))
        env = worker_env(broker.url, tmp_path, WIRESTREAM_EXTRA_SINKS="tests.nowhere:make")
        done = cli(env, "worker")
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "wirestream worker: extra sink 'tests.nowhere:make': No module named 'tests.nowhere'"
        )
    ), done.stderr
