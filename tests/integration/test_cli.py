"""The command line as a user runs it, against the test broker (``run`` starts its own
broker of the test engine)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from agents.enrich import get_routes
from agents.routing import ENRICHED
from streams.broker import EmbeddedBroker
from streams.kafka_engine import default_cache_dir, kafka_version
from streams.settings import Settings, kafka_options
from streams.sources import producer_options
from streams.topics import ARTICLES, DEADLETTER, ensure_topics
from tests.helpers import (
    ROOT,
    SEEDS,
    broker_engine,
    cli,
    create_topics,
    free_port,
    read,
    seed_counts,
    worker_env,
)
from tests.integration.conftest import Worker

pytestmark = pytest.mark.integration


def test_topics_lists_outputs_with_their_routes(env: dict[str, str], tmp_path: Path) -> None:
    result = cli(env, "topics")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TOPIC", "FED", "BY"]
    sport = next(line for line in lines if line.startswith("wirestream.topic.sport "))
    assert "topics in [sport]" in sport
    other = next(line for line in lines if line.startswith("wirestream.topic.other "))
    assert "no other route matched" in other
    assert any(line.startswith("wirestream.deadletter ") for line in lines)

    routes = tmp_path / "routes.toml"
    routes.write_text('[[route]]\ntopic = "alerts.putin"\nwhen.entity_names = ["Vladimir Putin"]\n')
    custom = cli(env, "topics", "--routes", str(routes))
    assert "alerts.putin" in custom.stdout and "entity_names in [vladimir putin]" in custom.stdout
    assert "wirestream.topic.sport" not in custom.stdout


def test_publish_reports_a_bad_file_and_publishes_the_rest(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    stamp = str(time.time_ns())
    good = tmp_path / "good.jsonl"
    good.write_text(
        "\n".join(
            json.dumps({"id": f"cli-{stamp}-{i}", "headline": f"Headline {i}", "body": "Body."})
            for i in range(3)
        )
        + "\n"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": f"cli-{stamp}-bad-1", "headline": "ok", "body": "ok"}) + "\n{not json\n"
    )
    result = cli(env, "publish", str(good), str(bad), "--quiet")
    assert result.returncode == 1
    assert f"{bad}: line 2: invalid_json" in result.stderr
    assert "published 3 articles" in result.stderr

    records = read(settings.bootstrap_servers, [ARTICLES], idle=2.0, timeout=30)
    keys = sorted(r.key for r in records if r.key and r.key.startswith(f"cli-{stamp}"))
    assert keys == [f"cli-{stamp}-{i}" for i in range(3)]  # nothing from bad.jsonl


def test_subscribe_prints_routed_articles(worker: Worker, env: dict[str, str]) -> None:
    stamp = str(time.time_ns())
    article = {
        "id": f"sub-{stamp}",
        "headline": "Striker scores twice as champions win league title",
        "body": "The striker scored twice in the second half as the champions won the league "
        "title with a 3-1 victory, the coach said after the match at the stadium.",
    }
    path = Path(env["WIRESTREAM_DATA_DIR"]) / f"sub-{stamp}.json"
    path.write_text(json.dumps(article))
    assert cli(env, "publish", str(path), "--quiet").returncode == 0

    as_json = cli(
        env,
        "subscribe",
        "wirestream.topic.sport",
        "--from-beginning",
        "--json",
        "--timeout",
        "20",
        "--limit",
        "1000",
    )
    assert as_json.returncode == 0, as_json.stderr
    lines = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    mine = [line for line in lines if line["key"] == f"sub-{stamp}"]
    assert len(mine) == 1
    assert mine[0]["topic"] == "wirestream.topic.sport"
    assert mine[0]["value"]["headline"] == article["headline"]
    assert "wirestream.topic.sport" in mine[0]["value"]["routes"]

    limited = cli(env, "subscribe", "wirestream.topic.sport", "--from-beginning", "--limit", "1")
    assert limited.returncode == 0
    (line,) = limited.stdout.splitlines()
    assert line.startswith("[wirestream.topic.sport] ")
    assert " | " in line and "tags:" in line


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, for tests that write to the pipeline's topics."""
    with EmbeddedBroker(port=free_port()) as embedded:
        yield embedded


def enriched_record(article_id: str, language: str, slugs: list[str]) -> dict[str, Any]:
    """An enriched record as the worker writes it, routed by the default routes."""
    record: dict[str, Any] = {
        "id": article_id,
        "headline": f"Headline {article_id}",
        "language": language,
        "source": "",
        "topics": [{"slug": s, "name": s, "code": "00000000", "score": 0.9} for s in slugs],
        "tags": [],
        "entities": [],
        "sentiment": {"compound": 0.0, "label": "neutral"},
    }
    record["routes"] = get_routes().match(record)
    return record


def test_reroute_sends_only_what_changed_and_tombstones_what_is_dropped(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Routes change: `wirestream reroute` sends each record only to the topics the new
    routes add, a tombstone to those they drop, nothing to those they keep; run again with
    the same routes, it sends nothing."""
    env = worker_env(own_broker.url, tmp_path / "data")
    servers = [own_broker.bootstrap_servers]
    create_topics(Settings(broker=own_broker.url))
    records = [
        enriched_record("rr-sport", "en", ["sport"]),
        enriched_record("rr-politics", "en", ["politics"]),
        enriched_record("rr-fr", "fr", []),
    ]
    assert [r["routes"][1:] for r in records] == [
        ["wirestream.topic.sport"],
        ["wirestream.topic.politics"],
        ["wirestream.lang.fr"],
    ]
    for record in records:
        for topic in record["routes"]:
            asyncio.run(produce(servers, topic, orjson.dumps(record), record["id"]))
    asyncio.run(produce(servers, ENRICHED, b"not an enriched record", "rr-junk"))

    routes = tmp_path / "routes.toml"
    routes.write_text(
        '[[route]]\ntopic = "wirestream.topic.sport"\nwhen.topics = ["sport"]\n'
        '[[route]]\ntopic = "wirestream.topic.english"\nwhen.languages = ["en"]\n'
        '[[route]]\ntopic = "wirestream.topic.rest"\nwhen.unmatched = true\n'
    )
    result = cli(env, "reroute", "--routes", str(routes))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == (
        "re-routed wirestream.enriched (4 record(s) read): 3 sent to topics the routes add, "
        "2 tombstone(s) to topics they drop, 0 unchanged, 1 dead-lettered"
    )
    assert "       2 sent         0 tombstones  wirestream.topic.english" in lines
    assert "       1 sent         0 tombstones  wirestream.topic.rest" in lines
    assert "       0 sent         1 tombstones  wirestream.topic.politics" in lines
    assert "       0 sent         1 tombstones  wirestream.lang.fr" in lines

    watched = [
        "wirestream.topic.sport",
        "wirestream.topic.english",
        "wirestream.topic.rest",
        "wirestream.topic.politics",
        "wirestream.lang.fr",
    ]
    out = read(servers, watched, until=lambda rs: len(rs) >= 8, timeout=30)
    got = sorted((r.topic, r.key, r.value is None) for r in out)
    assert got == [
        ("wirestream.lang.fr", "rr-fr", False),
        ("wirestream.lang.fr", "rr-fr", True),  # the tombstone
        ("wirestream.topic.english", "rr-politics", False),
        ("wirestream.topic.english", "rr-sport", False),
        ("wirestream.topic.politics", "rr-politics", False),
        ("wirestream.topic.politics", "rr-politics", True),
        ("wirestream.topic.rest", "rr-fr", False),
        ("wirestream.topic.sport", "rr-sport", False),  # kept: not sent again
    ]
    for r in out:
        if r.value is not None and r.topic in ("wirestream.topic.english", "wirestream.topic.rest"):
            assert r.topic in r.value["routes"] and r.value["routes"][0] == ENRICHED
    enriched = read(servers, [ENRICHED], until=lambda rs: len(rs) >= 7, timeout=30)
    latest = {r.key: r.value for r in enriched}
    assert latest["rr-sport"]["routes"] == [
        ENRICHED,
        "wirestream.topic.sport",
        "wirestream.topic.english",
    ]
    assert latest["rr-fr"]["routes"] == [ENRICHED, "wirestream.topic.rest"]
    dead = read(servers, [DEADLETTER], until=lambda rs: len(rs) >= 1, timeout=30)
    (record,) = [r.value for r in dead if r.key == "rr-junk"]
    assert record["reason"]["code"] == "invalid_enriched"
    assert record["origin"]["topic"] == ENRICHED
    assert record["payload"] == "not an enriched record"
    assert abs(record["origin"]["timestamp"] - time.time()) < 120  # seconds, not ms

    again = cli(env, "reroute", "--routes", str(routes))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == (
        "re-routed wirestream.enriched (7 record(s) read): 0 sent to topics the routes add, "
        "0 tombstone(s) to topics they drop, 3 unchanged, 1 dead-lettered"
    )
    assert len(read(servers, watched, idle=2.0, timeout=30)) == 8  # no duplicates


async def produce(servers: list[str], topic: str, value: bytes, key: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def newcomer_env(tmp_path: Path, port: int) -> dict[str, str]:
    """A bare environment, as on a newcomer's machine: nothing runs on ``port`` yet (on
    Apache Kafka, the jars fetched once are where the test session found them)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "WIRESTREAM_BROKER": f"kafka://127.0.0.1:{port}",
        "WIRESTREAM_WEB_PORT": str(free_port()),
        "WIRESTREAM_DATA_DIR": str(tmp_path / "data"),
    }
    if broker_engine() == "kafka":
        env["WIRESTREAM_KAFKA_CACHE"] = str(default_cache_dir())
    return env


def run_command(*args: str) -> list[str]:
    """``wirestream run ARGS --engine ENGINE`` with the test engine."""
    return [sys.executable, "-m", "streams.cli", "run", *args, "--engine", broker_engine()]


def started_broker_line(port: int, tmp_path: Path) -> str:
    """What ``run`` says about the broker it started."""
    if broker_engine() == "kafka":
        data = (tmp_path / "data" / "kafka").resolve()
        return (
            f"Apache Kafka {kafka_version()} (KRaft, one node) on kafka://127.0.0.1:{port}, "
            f"data in {data}"
        )
    return f"embedded broker (Tansu, in memory) on kafka://127.0.0.1:{port}"


def test_run_once_starts_its_own_broker_and_routes_every_seed(tmp_path: Path) -> None:
    """`wirestream run --once` as a newcomer runs it: nothing else is running."""
    port = free_port()
    env = newcomer_env(tmp_path, port)
    started = time.monotonic()
    result = subprocess.run(
        run_command("--once", "--timeout", "90", str(SEEDS)),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert started_broker_line(port, tmp_path) in out
    messages, seeds = seed_counts()  # story versions and a kill: more messages than ids
    assert f"published {messages} articles" in out
    assert f"all {seeds} articles routed" in out
    assert "[wirestream.topic.sport]" in out and "[wirestream.lang.fr]" in out
    assert elapsed < 60


def test_run_stops_its_worker_and_broker_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = newcomer_env(tmp_path, port)
    run = subprocess.Popen(
        run_command(str(SEEDS / "wire.jsonl")),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    lines = []
    for line in run.stdout:
        lines.append(line)
        if "watching for more" in line:
            break
    assert any("all 5 articles routed" in line for line in lines), "".join(lines)
    assert any(started_broker_line(port, tmp_path) in line for line in lines), "".join(lines)
    worker_pid = int(
        next(ln for ln in lines if "worker started (pid" in ln).split("pid ")[1].split(",")[0]
    )
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=20) == 0  # a stop is how `run` ends: 0 after a clean stop
    assert "stopped (worker and embedded broker stopped cleanly)" in run.stdout.read()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # the broker it started is gone
    if broker_engine() == "kafka":  # and Apache Kafka's log stays on disk
        log_dir = tmp_path / "data" / "kafka" / "data"
        assert (log_dir / "meta.properties").is_file()
        assert (log_dir / "wirestream.articles-0").is_dir()
    assert (
        not Path(f"/proc/{worker_pid}").exists()
        or "zombie" in Path(f"/proc/{worker_pid}/status").read_text().lower()
    )


def topics_on(settings: Settings) -> set[str]:
    async def go() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(go())


def test_subscribe_to_a_misspelt_topic_says_so_and_creates_nothing(
    env: dict[str, str], settings: Settings
) -> None:
    create_topics(settings)
    started = time.monotonic()
    result = cli(env, "subscribe", "wirestream.topic.sports")  # no --timeout: must not hang
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"wirestream subscribe: no topic 'wirestream.topic.sports' on {settings.broker}; "
        "did you mean wirestream.topic.sport? (wirestream topics lists the pipeline's topics)"
    ]
    assert result.stdout == ""
    assert time.monotonic() - started < 30
    existing = topics_on(settings)
    assert "wirestream.topic.sport" in existing
    assert "wirestream.topic.sports" not in existing  # asking did not create it


def test_wirestream_clients_never_auto_create_topics(settings: Settings) -> None:
    """A consumer and a producer built from kafka_options ask with
    allow_auto_topic_creation=false, and the embedded broker honours it; a plain aiokafka
    client (auto-creation allowed) in the same process still creates its topic. Apache
    Kafka (the engine, as in docker-compose.yml) has auto.create.topics.enable=false, so
    there it refuses the plain client as well and creates nothing."""
    stamp = time.time_ns()

    async def go() -> tuple[str, str]:
        consumer = AIOKafkaConsumer(
            f"nocreate.consumer.{stamp}",
            **kafka_options(settings),
            group_id=None,
            request_timeout_ms=3000,
        )
        try:
            await consumer.start()
            consumer_error = "none"
        except KafkaError as exc:
            consumer_error = type(exc).__name__
        finally:
            await consumer.stop()
        producer = AIOKafkaProducer(**{**producer_options(settings), "request_timeout_ms": 3000})
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait(f"nocreate.producer.{stamp}", b"x"), 20)
            producer_error = "none"
        except KafkaError as exc:
            producer_error = type(exc).__name__
        finally:
            await producer.stop()
        try:
            await asyncio.wait_for(
                produce(settings.bootstrap_servers, f"plain.producer.{stamp}", b"x", "k"), 90
            )
            plain_error = "none"
        except KafkaError as exc:
            plain_error = type(exc).__name__
        return consumer_error, producer_error, plain_error

    refused = "UnknownTopicOrPartitionError"
    on_kafka = broker_engine() == "kafka"
    assert asyncio.run(go()) == (refused, refused, refused if on_kafka else "none")
    existing = topics_on(settings)
    assert f"nocreate.consumer.{stamp}" not in existing
    assert f"nocreate.producer.{stamp}" not in existing
    assert (f"plain.producer.{stamp}" in existing) is not on_kafka


def test_subscribe_into_a_closed_pipe_ends_quietly(env: dict[str, str], settings: Settings) -> None:
    """`wirestream subscribe ... | head -1`: status 0 and no traceback, whether more records
    come (the next write fails) or not (the closed pipe is noticed while idle)."""
    stamp = time.time_ns()
    for count in (200, 1):
        topic = f"cli.pipe.{count}.{stamp}"
        asyncio.run(ensure_topics(settings, [topic]))
        for i in range(count):
            asyncio.run(produce(settings.bootstrap_servers, topic, b'{"id": "x"}', f"k{i}"))
        command = (
            f"{sys.executable} -m streams.cli subscribe {topic} --from-beginning --json | head -1;"
            ' echo "status=${PIPESTATUS[0]}" >&2'
        )
        started = time.monotonic()
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert time.monotonic() - started < 40
        assert orjson.loads(result.stdout)["topic"] == topic
        assert result.stderr.splitlines() == ["status=0"], result.stderr


def test_subscribe_interrupted_exits_130(env: dict[str, str], settings: Settings) -> None:
    create_topics(settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "subscribe", "wirestream.topic.weather"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # started and waiting for records
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.splitlines() == ["wirestream subscribe: interrupted"]


def test_run_once_counts_only_records_of_this_run(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Records already on the routed topics for the same ids (an earlier run, another
    worker) do not count: `run --once` reports the articles routed only once its worker
    has written them, and does not show the old records."""
    articles = [json.loads(line) for line in (SEEDS / "wire.jsonl").read_text().splitlines()]
    settings = Settings(broker=own_broker.url)
    create_topics(settings)
    for article in articles:
        stale = {**article, "headline": "STALE RECORD", "routes": [ENRICHED, "x"]}
        for topic in ("wirestream.topic.sport", "wirestream.topic.politics"):
            asyncio.run(
                produce([own_broker.bootstrap_servers], topic, orjson.dumps(stale), article["id"])
            )
    env = newcomer_env(tmp_path, own_broker.port)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "run",
            "--once",
            "--timeout",
            "90",
            str(SEEDS / "wire.jsonl"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert f"using broker {own_broker.url}" in out
    assert f"published {len(articles)} articles" in out
    assert f"all {len(articles)} articles routed" in out
    assert "STALE RECORD" not in out
    routed = [line for line in out.splitlines() if "  [wirestream." in line]
    assert len(routed) >= len(articles)
    assert all(article["headline"][:80] in out for article in articles)
