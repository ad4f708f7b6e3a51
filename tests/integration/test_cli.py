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
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.routing import ENRICHED
from streams.kafka_engine import default_cache_dir, kafka_version
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER
from tests.helpers import ROOT, SEEDS, broker_engine, free_port, read
from tests.integration.conftest import Worker, cli

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


def test_reroute_sends_what_is_enriched_to_the_new_routes(
    worker: Worker, env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    """Routes change: `wirestream reroute` re-sends every enriched record under the new
    routes file, without the NLP (the worker is not involved)."""
    stamp = str(time.time_ns())
    articles = [
        {
            "id": f"rr-en-{stamp}",
            "headline": "Parliament passes the budget",
            "body": "Members of parliament voted for the budget after a long debate on taxes.",
        },
        {
            "id": f"rr-fr-{stamp}",
            "headline": "Le parlement adopte le budget",
            "body": "Les députés ont voté le budget de l'État après un long débat.",
            "language": "fr",
        },
    ]
    path = tmp_path / "rr.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in articles))
    assert cli(env, "publish", str(path), "--quiet").returncode == 0
    ids = {a["id"] for a in articles}
    servers = settings.bootstrap_servers
    junk = f"rr-junk-{stamp}"
    asyncio.run(produce(servers, ENRICHED, b"not an enriched record", junk))
    read(servers, [ENRICHED], until=lambda rs: ids <= {r.key for r in rs}, timeout=60)
    everything = read(servers, [ENRICHED], idle=3.0, timeout=60)
    enriched = [r for r in everything if r.value is not None]
    assert ids <= {r.key for r in enriched}
    assert [r.key for r in everything if r.value is None] == [junk]

    routes = tmp_path / "routes.toml"
    routes.write_text(
        "version = 1\n"
        '[[route]]\ntopic = "wirestream.topic.english"\nwhen.languages = ["en"]\n'
        '[[route]]\ntopic = "wirestream.topic.rest"\nwhen.unmatched = true\n'
    )
    result = cli(env, "reroute", "--routes", str(routes))
    assert result.returncode == 0, result.stderr
    assert f"re-routed {len(everything)} record(s)" in result.stdout

    english = Counter(r.key for r in enriched if r.value["language"] == "en")
    rest = Counter(r.key for r in enriched if r.value["language"] != "en")
    assert english[f"rr-en-{stamp}"] == 1 and rest[f"rr-fr-{stamp}"] == 1
    out = read(
        servers,
        ["wirestream.topic.english", "wirestream.topic.rest"],
        until=lambda rs: len(rs) >= len(enriched),
        timeout=60,
    )
    assert Counter(r.key for r in out if r.topic == "wirestream.topic.english") == english
    assert Counter(r.key for r in out if r.topic == "wirestream.topic.rest") == rest
    for r in out:
        assert r.value["routes"] == [ENRICHED, r.topic]
    dead = read(servers, [DEADLETTER], until=lambda rs: junk in {r.key for r in rs}, timeout=30)
    (record,) = [r.value for r in dead if r.key == junk]
    assert record["reason"]["code"] == "invalid_enriched"
    assert record["origin"]["topic"] == ENRICHED
    assert record["payload"] == "not an enriched record"
    assert abs(record["origin"]["timestamp"] - time.time()) < 120  # seconds, not ms


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
    seeds = len(list(SEEDS.glob("*.txt"))) + len((SEEDS / "wire.jsonl").read_text().splitlines())
    assert f"published {seeds} articles" in out
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
    assert run.wait(timeout=20) == 130
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
