"""Broker outages: the worker survives 30 s without a broker and resumes when it is back
(also when Faust drops its first fetch after the rejoin); a worker told to stop while
the broker is down still exits within 10 s; publishing to a broker that is down fails
with a clear message after its retry window.

The embedded Tansu broker comes back empty (it keeps nothing). Apache Kafka
(``make soak-kafka``) comes back on the same data directory: there nothing published
or enriched before the outage is lost, the group's committed offsets survive, and no
article is enriched twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from agents.routing import ENRICHED
from streams.settings import Settings
from streams.topics import ARTICLES
from tests.helpers import (
    ROOT,
    WorkerProcess,
    committed_offsets,
    create_topics,
    free_port,
    new_broker,
    on_kafka,
    read,
    start_worker,
    worker_env,
)

pytestmark = pytest.mark.soak

OUTAGE_S = 30
#: Fault injection that forces Faust to drop the first fetch after a rejoin.
FAULTS = Path(__file__).resolve().parent / "faults"


async def publish(servers: list[str], ids: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for i in ids:
            body = f"Union leaders in Oslo called a strike over pay on Monday, item {i}."
            value = orjson.dumps({"id": i, "headline": f"Dock strike {i}", "body": body})
            await producer.send_and_wait(ARTICLES, value, key=i.encode())
    finally:
        await producer.stop()


def enriched_ids(servers: list[str], ids: list[str]) -> set[str]:
    wanted = set(ids)
    records = read(servers, [ENRICHED], timeout=90, until=lambda rs: wanted <= {r.key for r in rs})
    return wanted & {r.key for r in records}


def wait_for_commits(servers: list[str], group: str, total: int) -> dict[TopicPartition, int]:
    """Wait until the group has committed ``total`` records of the input in all."""
    deadline = time.monotonic() + 60
    while (
        sum((offsets := asyncio.run(committed_offsets(servers, group, ARTICLES))).values()) < total
    ):
        assert time.monotonic() < deadline, f"committed {offsets}, not {total} records"
        time.sleep(0.5)
    return offsets


def ride_out_an_outage(tmp_path: Path, **extra_env: str) -> WorkerProcess:
    """Two workers; the broker stops for 30 s (one worker is told to stop meanwhile) and
    comes back (Tansu empty, Apache Kafka on its data directory); the survivor must
    enrich what is published after, without a restart. Returns the survivor (stopped)."""
    port = free_port()
    broker = new_broker(tmp_path / "broker", port).start()
    servers = [f"127.0.0.1:{port}"]
    settings = Settings(broker=broker.url)
    create_topics(settings)
    env = worker_env(broker.url, tmp_path / "a", **extra_env)
    group = "wirestream"  # the workers' consumer group (worker_env sets no WIRESTREAM_APP_ID)
    survivor = start_worker(env, tmp_path / "survivor.log")
    quitter = start_worker(
        {**env, "WIRESTREAM_WEB_PORT": str(free_port())}, tmp_path / "quitter.log"
    )
    before = [f"pre-{i}" for i in range(20)]
    asyncio.run(publish(servers, before))
    assert enriched_ids(servers, before) == set(before)
    committed = wait_for_commits(servers, group, len(before)) if on_kafka() else {}

    broker.stop()
    time.sleep(3)
    stop_s = quitter.stop(timeout=30)
    assert stop_s <= 10, f"SIGTERM with the broker down took {stop_s:.1f} s"
    time.sleep(OUTAGE_S - 3)
    assert survivor.alive()

    # Tansu keeps nothing: it comes back empty, like a fresh cluster. Apache Kafka comes
    # back with everything: the same directory, the same port.
    broker = new_broker(tmp_path / "broker", port).start()
    try:
        if on_kafka():
            # Right after a start the coordinator may still load its offsets (and answer
            # with none); what it then has must be what was committed before the stop.
            deadline = time.monotonic() + 30
            while not (kept := asyncio.run(committed_offsets(servers, group, ARTICLES))):
                assert time.monotonic() < deadline, "no committed offsets after the restart"
                time.sleep(0.5)
            assert kept == committed
        create_topics(settings)
        after = [f"post-{i}" for i in range(20)]
        asyncio.run(publish(servers, after))
        assert enriched_ids(servers, after) == set(after)
        assert survivor.alive()
        assert survivor.log_text().count("[^Worker]: Ready") == 1
        if on_kafka():
            everything = before + after
            records = read(servers, [ENRICHED], idle=3.0, timeout=60)
            keys = [r.key for r in records if r.key in set(everything)]
            assert sorted(keys) == sorted(everything)  # all kept, none enriched twice
            wait_for_commits(servers, group, len(everything))
    finally:
        survivor.stop()
        broker.stop()
    return survivor


def test_worker_rides_out_a_broker_outage_and_stops_quickly_during_one(tmp_path: Path) -> None:
    ride_out_an_outage(tmp_path)


def test_worker_rereads_records_it_dropped_while_rejoining(tmp_path: Path) -> None:
    """The same outage with the race forced (tests/soak/faults/sitecustomize.py): the
    first fetch after every rejoin is dropped by Faust, and the worker must read those
    records again although the restarted broker has no committed offsets."""
    survivor = ride_out_an_outage(tmp_path, PYTHONPATH=os.pathsep.join([str(FAULTS), str(ROOT)]))
    assert "getmany called while flow not active" in survivor.log_text()


def test_publish_to_a_broker_that_is_down_fails_clearly(tmp_path: Path) -> None:
    article = tmp_path / "a.json"
    article.write_text('{"headline": "h", "body": "b"}')
    env = worker_env(f"kafka://127.0.0.1:{free_port()}", tmp_path)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "publish", str(article)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "not reachable" in result.stderr
    assert time.monotonic() - started < 60


def test_publish_waits_for_a_broker_that_comes_back(tmp_path: Path) -> None:
    """The producer retries: a broker that starts 8 s after `publish` still gets the file."""
    article = tmp_path / "a.json"
    article.write_text('{"id": "late-1", "headline": "Port reopens", "body": "Ships sail."}')
    port = free_port()
    env = worker_env(f"kafka://127.0.0.1:{port}", tmp_path)
    publish_cli = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "publish", str(article), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)
    assert publish_cli.poll() is None  # still retrying
    broker = new_broker(tmp_path / "broker", port).start()
    try:
        _, err = publish_cli.communicate(timeout=60)
        assert publish_cli.returncode == 0, err
        assert "published 1 articles" in err
        records = read(
            [f"127.0.0.1:{port}"],
            [ARTICLES],
            timeout=20,
            until=lambda rs: any(r.key == "late-1" for r in rs),
        )
        assert [r.key for r in records] == ["late-1"]
    finally:
        broker.stop()
