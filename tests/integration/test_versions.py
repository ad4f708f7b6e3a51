"""Keyed updates on a real broker with a real worker: version 1, version 2 with other
routes, version 1 again and a kill, then exactly these records and tombstones on each
topic and on wirestream.retractions (docs/versions.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas.validation import guid_id
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER, ENRICHED, RETRACTIONS, changelog_topic
from tests.helpers import Record, cli, create_topics, new_broker, read, start_worker, worker_env

APP_ID = "wirestream-versions-test"
ALPHA = "wirestream.topic.alpha-wire"
BETA = "wirestream.topic.beta-wire"
ROUTES = f"""version = 1

[[route]]
topic = "{ALPHA}"
when.sources = ["Alpha Wire"]

[[route]]
topic = "{BETA}"
when.sources = ["Beta Wire"]
"""
GUID = "urn:newsml:test.example:20261203:story-1"
STORY = guid_id(GUID)


def article(version: int, status: str, source: str, headline: str, **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "id": STORY,
            "guid": GUID,
            "version": version,
            "status": status,
            "version_created": f"2026-12-03T10:0{version}:00Z",
            "headline": headline,
            "body": "The harbour authority in Rotterdam said the strike had ended on Monday.",
            "source": source,
            **extra,
        }
    )


async def _send(servers: list[str], key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(ARTICLES, value, key=key)
    finally:
        await producer.stop()


def _marker(n: int) -> bytes:
    """An unversioned article (v1 input): processed as before, it shows the worker got
    past what was sent before it (one partition keeps the order)."""
    return orjson.dumps({"id": f"marker-{n}", "headline": f"Marker {n}", "body": "Nothing."})


def test_versions_route_changes_stale_versions_and_a_kill(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    with new_broker(tmp_path / "broker") as broker:
        settings = Settings(broker=broker.url, routes=routes, app_id=APP_ID, partitions=1)
        create_topics(settings)
        env = worker_env(
            broker.url,
            tmp_path / "data",
            WIRESTREAM_APP_ID=APP_ID,
            WIRESTREAM_ROUTES=str(routes),
            WIRESTREAM_PARTITIONS="1",
            WIRESTREAM_VERSIONS="true",  # the table is opt-in
        )
        worker = start_worker(env, tmp_path / "worker.log")
        servers = settings.bootstrap_servers
        topics = [ENRICHED, ALPHA, BETA, RETRACTIONS, DEADLETTER, changelog_topic(APP_ID)]

        def step(value: bytes, key: bytes, marker: int) -> list[Record]:
            """Send one article then a marker; wait until the marker is enriched."""
            asyncio.run(_send(servers, key, value))
            asyncio.run(_send(servers, f"marker-{marker}".encode(), _marker(marker)))
            return read(
                servers,
                topics,
                until=lambda rs: any(r.key == f"marker-{marker}" for r in rs),
                timeout=90,
            )

        try:
            step(article(1, "usable", "Alpha Wire", "Port strike ends"), STORY.encode(), 1)
            step(
                article(2, "usable", "Beta Wire", "Port strike ends after talks"), STORY.encode(), 2
            )
            step(article(1, "usable", "Alpha Wire", "Port strike ends"), STORY.encode(), 3)
            step(article(3, "canceled", "Beta Wire", "KILL: Port strike"), STORY.encode(), 4)
            records = read(servers, topics, idle=2.0, timeout=30)
        finally:
            worker.stop()
        log = worker.log_text()
        shown = cli(env, "subscribe", ALPHA, "--from-beginning", "--timeout", "3")
        as_json = cli(env, "subscribe", BETA, "--from-beginning", "--json", "--timeout", "3")

    story = [r for r in records if r.key == STORY]
    on = {t: [r for r in story if r.topic == t] for t in topics}

    assert [r.value["version"] for r in on[ENRICHED] if r.value] == [1, 2]
    assert [r.value["guid"] for r in on[ENRICHED] if r.value] == [GUID, GUID]
    headlines = [r.value["headline"] if r.value else None for r in on[ENRICHED]]
    assert headlines == ["Port strike ends", "Port strike ends after talks", None]
    assert [r.raw for r in on[ENRICHED]][-1] is None  # a tombstone: key, null value
    assert [r.value["headline"] if r.value else None for r in on[ALPHA]] == [
        "Port strike ends",
        None,  # version 2 is not routed here any more
    ]
    assert [r.value["headline"] if r.value else None for r in on[BETA]] == [
        "Port strike ends after talks",
        None,  # the kill
    ]
    assert on[DEADLETTER] == []  # the stale version 1 is dropped, not dead-lettered
    # wirestream subscribe shows the tombstones as withdrawals
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == f"[{ALPHA}] withdrawn: {STORY}"
    assert shown.stdout.splitlines()[0].startswith(f"[{ALPHA}] Port strike ends |")
    assert as_json.returncode == 0, as_json.stderr
    lines = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert lines[-1] == {"id": STORY, "withdrawn": True}
    assert lines[0]["value"]["version"] == 2 and len(lines) == 2
    assert len(on[RETRACTIONS]) == 1
    retraction = on[RETRACTIONS][0].value
    assert retraction.pop("when").startswith("20")
    assert retraction == {
        "id": STORY,
        "guid": GUID,
        "version": 3,
        "status": "canceled",
        "topics": [ENRICHED, BETA],
    }
    remembered = [orjson.loads(r.raw) for r in on[changelog_topic(APP_ID)] if r.raw]
    assert remembered == [
        [1, "usable", [ENRICHED, ALPHA]],
        [2, "usable", [ENRICHED, BETA]],
        [3, "canceled", []],
    ]
    # the markers (unversioned input) went through as before, and left no table entry
    markers = [r.key for r in records if r.topic == ENRICHED and (r.key or "").startswith("m")]
    assert markers == ["marker-1", "marker-2", "marker-3", "marker-4"]
    assert not [r for r in records if r.topic == changelog_topic(APP_ID) and r.key != STORY]
    assert "dropped 1 versions not newer than the one processed (1 in all)" in log


@pytest.mark.xfail(
    strict=False,
    reason="known defect of the opt-in versions table (WIRESTREAM_VERSIONS): the table rebuilt"
    " after a restart missed a version in about 1 of 5 runs on Tansu and 1 of 3 on Apache"
    " Kafka (2026-12-03, cause not found; docs/versions.md). Fix before the table is on by"
    " default.",
)
def test_a_restarted_worker_remembers_the_versions(tmp_path: Path) -> None:
    """The table is rebuilt from its changelog: after a restart, an old version is still
    dropped and a newer one still tombstones the topic the old one went to."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    with new_broker(tmp_path / "broker") as broker:
        settings = Settings(broker=broker.url, routes=routes, app_id=APP_ID, partitions=1)
        create_topics(settings)
        env = worker_env(
            broker.url,
            tmp_path / "data",
            WIRESTREAM_APP_ID=APP_ID,
            WIRESTREAM_ROUTES=str(routes),
            WIRESTREAM_PARTITIONS="1",
            WIRESTREAM_VERSIONS="true",  # the table is opt-in
        )
        servers = settings.bootstrap_servers
        topics = [ENRICHED, ALPHA, BETA, changelog_topic(APP_ID)]

        def step(value: bytes, marker: int) -> list[Record]:
            asyncio.run(_send(servers, STORY.encode(), value))
            asyncio.run(_send(servers, f"marker-{marker}".encode(), _marker(marker)))
            return read(
                servers,
                topics,
                until=lambda rs: any(r.key == f"marker-{marker}" for r in rs),
                timeout=90,
            )

        worker = start_worker(env, tmp_path / "worker.log")
        try:
            step(article(1, "usable", "Alpha Wire", "Port strike ends"), 1)
            step(article(2, "usable", "Alpha Wire", "Port strike ends after talks"), 2)
        finally:
            worker.stop()
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            step(article(1, "usable", "Beta Wire", "Port strike ends"), 3)  # stale
            step(article(3, "usable", "Beta Wire", "Strike over"), 4)
            records = read(servers, topics, idle=2.0, timeout=30)
        finally:
            worker.stop()
        log = worker.log_text()

    story = [r for r in records if r.key == STORY]
    outputs = (ENRICHED, ALPHA, BETA)
    on = {
        t: [r.value["version"] if r.value else None for r in story if r.topic == t] for t in outputs
    }
    assert on[ENRICHED] == [1, 2, 3]
    assert on[ALPHA] == [1, 2, None]  # version 3 left it: a tombstone after the restart
    assert on[BETA] == [3]  # the stale version 1 was not sent here
    # marker-3, sent after the stale version 1 on the one partition, was processed: the
    # stale version was read and dropped (BETA above has no version 1)
    markers = [r.key for r in records if r.topic == ENRICHED and (r.key or "").startswith("m")]
    assert markers == ["marker-1", "marker-2", "marker-3", "marker-4"], log[-3000:]
    remembered = [orjson.loads(r.raw)[0] for r in story if r.topic == topics[-1] and r.raw]
    assert remembered == [1, 2, 3]
