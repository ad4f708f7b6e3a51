"""The ``kafka`` engine of the local broker (streams/kafka_engine.py).

Tests marked ``kafka`` need Java and Maven (most start Apache Kafka JVMs); ``make test``
leaves them out and ``make test-kafka`` runs them. The others (configuration, the clear
error when Java is missing) run everywhere.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.broker import BrokerError, broker_kind, broker_reachable, wait_for_broker
from streams.kafka_engine import (
    POM,
    KafkaBroker,
    default_cache_dir,
    fetch_jars,
    find_java,
    kafka_version,
    read_cluster_id,
    server_properties,
)
from streams.settings import Settings
from tests.helpers import ROOT, free_port

kafka = pytest.mark.kafka


def test_the_pom_names_apache_kafka_4() -> None:
    version = kafka_version()
    assert version.split(".")[0] == "4"
    assert "<artifactId>kafka_2.13</artifactId>" in POM.read_text()


def test_server_properties_are_a_single_kraft_node_keeping_its_log(tmp_path: Path) -> None:
    props = server_properties(19092, 19093, tmp_path / "data")
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert props[key] == "1", key


def bare_env(tmp_path: Path, bin_dir: Path) -> dict[str, str]:
    """An environment whose PATH is only ``bin_dir`` and whose caches are empty."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    env.pop("JAVA_HOME", None)
    env.update(
        PATH=str(bin_dir),
        PYTHONPATH=str(ROOT),
        WIRESTREAM_KAFKA_CACHE=str(tmp_path / "cache"),
        WIRESTREAM_DATA_DIR=str(tmp_path / "data"),
    )
    return env


def run_broker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "broker", "--engine", "kafka", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_java_is_one_clear_line(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_broker(bare_env(tmp_path, empty))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: the kafka engine needs Java: no java on PATH; install Java 17 or newer "
        "(e.g. apt-get install openjdk-17-jre-headless)"
    ]
    assert not (tmp_path / "cache").exists()


@kafka
def test_no_maven_is_one_clear_line(tmp_path: Path) -> None:
    """Java is there, the jars are not fetched yet, and there is no mvn to fetch them."""
    only_java = tmp_path / "bin"
    only_java.mkdir()
    (only_java / "java").symlink_to(find_java())
    result = run_broker(bare_env(tmp_path, only_java))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: the kafka engine fetches Apache Kafka's jars once with Maven: no mvn on PATH; "
        "install Maven (e.g. apt-get install maven)"
    ]
    assert not (tmp_path / "data" / "kafka" / "data").exists()  # nothing formatted


@kafka
def test_jars_are_fetched_once_and_reused() -> None:
    libs = fetch_jars()  # the first call in a fresh cache fetches them with Maven
    jars = {p.name for p in libs.glob("*.jar")}
    assert f"kafka_2.13-{kafka_version()}.jar" in jars
    assert f"kafka-server-{kafka_version()}.jar" in jars
    assert any(j.startswith("log4j-slf4j-impl-") for j in jars)  # the broker logs to a file
    assert libs == default_cache_dir() / f"kafka-{kafka_version()}" / "libs"
    started = time.monotonic()
    assert fetch_jars() == libs
    assert time.monotonic() - started < 1  # cached: no Maven run


async def _produce_and_commit(servers: str, topic: str, group: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, f"v{i}".encode(), partition=0)
    finally:
        await producer.stop()
    # No auto-commit: after assign() the fetcher reads on, and stop() would commit its
    # position (5) over the 3 committed here.
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 3})
    finally:
        await consumer.stop()


async def _read_back(
    servers: str, topic: str, group: str
) -> tuple[list[str], list[tuple[int, bytes | None]], int | None]:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t == topic)
    finally:
        await admin.close()
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        committed = await consumer.committed(tp)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records: list[tuple[int, bytes | None]] = []
        deadline = time.monotonic() + 15
        while len(records) < 5 and time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=300)
            records += [(m.offset, m.value) for m in batch.get(tp, [])]
    finally:
        await consumer.stop()
    return topics, records, committed


@kafka
def test_a_restart_keeps_topics_records_and_committed_offsets(tmp_path: Path) -> None:
    data = tmp_path / "kafka"
    broker = KafkaBroker(0, data_dir=data).start()
    try:
        first_port, cluster_id = broker.port, broker.cluster_id
        assert read_cluster_id(data / "data") == cluster_id
        assert asyncio.run(broker_kind(broker.settings)) == "kafka"
        asyncio.run(_produce_and_commit(broker.bootstrap_servers, "kept", "kept-group"))
        # The directory is locked: a second broker on it fails and says why.
        with pytest.raises(BrokerError, match="in use by another running Kafka broker"):
            KafkaBroker(0, data_dir=data).start()
        assert broker.running
    finally:
        broker.stop()
    assert not broker.running
    assert not broker_reachable(f"127.0.0.1:{first_port}", timeout=0.5)

    again = KafkaBroker(0, data_dir=data).start()
    try:
        assert again.cluster_id == cluster_id  # the same cluster, not a new one
        topics, records, committed = asyncio.run(
            _read_back(again.bootstrap_servers, "kept", "kept-group")
        )
    finally:
        again.stop()
    assert topics == ["kept"]
    assert records == [(i, f"v{i}".encode()) for i in range(5)]
    assert committed == 3
    assert (data / "logs" / "server.log").is_file()
    assert "Kafka Server started" in (data / "logs" / "server.log").read_text()


@kafka
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_wirestream_broker_engine_kafka_serves_until_signalled(
    tmp_path: Path, sig: signal.Signals
) -> None:
    port = free_port()
    data = tmp_path / "kafka-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "streams.cli", "broker", "--engine", "kafka"]
    command += ["--port", str(port), "--data-dir", str(data)]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == (
            f"Apache Kafka {kafka_version()} (KRaft, one node) on kafka://127.0.0.1:{port}"
        )
        asyncio.run(wait_for_broker(f"127.0.0.1:{port}", timeout=10))
        proc.send_signal(sig)
        assert proc.wait(timeout=40) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"data in {data.resolve()} (kept across restarts)" in err
    assert "broker stopped" in err
    assert not broker_reachable(f"127.0.0.1:{port}", timeout=0.5)
    assert read_cluster_id(data / "data") is not None
    settings = Settings(broker=f"kafka://127.0.0.1:{port}")
    assert settings.bootstrap_servers == [f"127.0.0.1:{port}"]
