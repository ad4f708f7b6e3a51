"""``wirestream serve`` on a real broker: SSE streams (order, resume with Last-Event-ID,
tombstones, filters), the endpoints' errors (401, 404, 400) and HTTP ingest through a
real worker.

A broker of its own, so that the counts are exact; ``wirestream serve`` runs as a
subprocess with a bearer token, as a user would run it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.routing import pipeline_topics
from streams.broker import LocalBroker
from streams.settings import Settings
from streams.topics import ARTICLES, DEADLETTER, ENRICHED
from tests.helpers import (
    ROOT,
    cli,
    create_topics,
    free_port,
    new_broker,
    read,
    start_worker,
    worker_env,
)

TOKEN = "ops-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STREAMED = "wirestream.topic.sport"
KEYS, VERSIONS = 50, 10  # 500 records, 10 per key


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    local = new_broker(tmp_path_factory.mktemp("ops-serve-broker"), port=free_port())
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def env(own_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return worker_env(
        own_broker.url,
        tmp_path_factory.mktemp("ops-serve-data"),
        WIRESTREAM_APP_ID="ops-serve",
        WIRESTREAM_INGEST_TOKEN=TOKEN,
        WIRESTREAM_MAX_ARTICLE_BYTES="20000",
    )


@pytest.fixture(scope="module")
def settings(env: dict[str, str]) -> Settings:
    return Settings(broker=env["WIRESTREAM_BROKER"], max_article_bytes=20000)


@pytest.fixture(scope="module")
def base(
    env: dict[str, str], settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``wirestream serve`` on a free port: its base URL."""
    create_topics(settings)
    port = free_port()
    log = tmp_path_factory.mktemp("ops-serve-log") / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while b"listening on" not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert f"listening on http://127.0.0.1:{port} (bearer token required)" in log.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()


async def produce(servers: list[str], topic: str, messages: list[tuple[bytes, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Sse:
    """A minimal Server-Sent Events reader over an aiohttp response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def events(self) -> Any:
        fields: dict[str, str] = {}
        async for raw in self.response.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in fields:
                    yield fields
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value


async def take(
    url: str, n: int, headers: dict[str, str], timeout: float = 60
) -> list[dict[str, str]]:
    """The first ``n`` events of a stream (and the stream's opening lines)."""
    got: list[dict[str, str]] = []
    limit = aiohttp.ClientTimeout(timeout)
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers, timeout=limit) as r,
    ):
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/event-stream")
        async for ev in Sse(r).events():
            got.append(ev)
            if len(got) >= n:
                break
    return got


def test_sse_delivers_500_in_order_per_key_and_resumes_exactly(
    base: str, settings: Settings
) -> None:
    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        url = f"{base}/v1/stream/{STREAMED}?from=latest"
        first: list[dict[str, str]] = []
        async with aiohttp.ClientSession() as session, session.get(url, headers=AUTH) as r:
            assert r.status == 200
            # the stream's positions are fixed once the headers are in: publish now
            messages = [
                (
                    f"story-{k}".encode(),
                    orjson.dumps({"id": f"story-{k}", "version": v, "headline": f"{k}/{v}"}),
                )
                for v in range(VERSIONS)
                for k in range(KEYS)
            ]
            await produce(settings.bootstrap_servers, STREAMED, messages)
            async for ev in Sse(r).events():
                first.append(ev)
                if len(first) == 200:
                    break  # disconnect
        await produce(settings.bootstrap_servers, STREAMED, [(b"story-0", None)])
        rest = await take(
            f"{base}/v1/stream/{STREAMED}?from=beginning",
            KEYS * VERSIONS - 200 + 1,
            {**AUTH, "Last-Event-ID": first[-1]["id"]},
        )
        return first, rest

    first, rest = asyncio.run(scenario())
    withdrawn = [ev for ev in rest if ev.get("event") == "withdrawn"]
    assert len(withdrawn) == 1 and all("event" not in ev for ev in first)
    records = [orjson.loads(ev["data"]) for ev in first + rest if "event" not in ev]
    assert len(records) == KEYS * VERSIONS
    seen = {(r["id"], r["version"]) for r in records}
    assert len(seen) == KEYS * VERSIONS  # nothing repeated, nothing skipped
    for k in range(KEYS):
        versions = [r["version"] for r in records if r["id"] == f"story-{k}"]
        assert versions == list(range(VERSIONS))
    # a tombstone is a withdrawn event, after every record of its key
    (last,) = withdrawn
    assert orjson.loads(last["data"]) == {"id": "story-0", "withdrawn": True}
    every = first + rest
    story0 = [i for i, ev in enumerate(every) if orjson.loads(ev["data"])["id"] == "story-0"]
    assert len(story0) == VERSIONS + 1 and every.index(last) == story0[-1]
    # the id holds every partition's position; the last event's covers all 501 records
    positions = dict(part.split(":") for part in rest[-1]["id"].split(","))
    assert sorted(int(p) for p in positions) == list(range(settings.partitions))
    assert sum(int(o) for o in positions.values()) == KEYS * VERSIONS + 1


def test_sse_filter_uses_route_conditions(base: str, settings: Settings) -> None:
    topic = "wirestream.topic.economy"
    messages = [
        (f"f-{n}".encode(), orjson.dumps({"id": f"f-{n}", "source": f"src-{n % 3}"}))
        for n in range(30)
    ]
    asyncio.run(produce(settings.bootstrap_servers, topic, messages))
    got = asyncio.run(
        take(f"{base}/v1/stream/{topic}?from=beginning&sources=src-1,src-2", 20, AUTH)
    )
    ids = sorted(orjson.loads(ev["data"])["id"] for ev in got)
    assert ids == sorted(f"f-{n}" for n in range(30) if n % 3 != 0)


def get(base: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(base + path, headers=headers) as r,
        ):
            return r.status, await r.json(content_type=None)

    return asyncio.run(go())


def test_endpoints_refuse_bad_requests(base: str, env: dict[str, str]) -> None:
    status, body = get(base, "/v1/topics", {})
    assert status == 401 and body == {"error": "missing or wrong bearer token"}
    assert get(base, "/v1/topics", {"Authorization": "Bearer wrong"})[0] == 401
    status, body = get(base, "/v1/topics", AUTH)
    assert status == 200
    names = [t["name"] for t in body["topics"]]
    assert names[:3] == [ARTICLES, ENRICHED, DEADLETTER]
    assert STREAMED in names and "wirestream.topic.conflict" in names

    status, body = get(base, "/v1/stream/wirestream.topic.nope", AUTH)
    assert status == 404 and "no readable topic 'wirestream.topic.nope'" in body["error"]
    status, body = get(base, f"/v1/stream/{ENRICHED}?entity_labels=NOPE", AUTH)
    assert status == 400 and "unknown entity label" in body["error"], body
    status, body = get(base, f"/v1/stream/{ENRICHED}?colour=red", AUTH)
    assert status == 400 and "unknown condition ['colour']" in body["error"], body
    status, body = get(base, f"/v1/stream/{ENRICHED}?sentiment_below=low", AUTH)
    assert status == 400 and body["error"] == "filter: sentiment_below must be a number, got 'low'"
    status, body = get(base, f"/v1/stream/{ENRICHED}?from=middle", AUTH)
    assert status == 400 and "from must be beginning or latest" in body["error"]
    status, body = get(base, f"/v1/stream/{ENRICHED}", {**AUTH, "Last-Event-ID": "zz"})
    assert status == 400 and "bad Last-Event-ID" in body["error"]
    for error in (body["error"],):
        assert "\n" not in error

    # A non-loopback address without a token is refused, in one line, before anything.
    no_token = {k: v for k, v in env.items() if k != "WIRESTREAM_INGEST_TOKEN"}
    anywhere = "0.0.0.0"  # noqa: S104 - the address serve must refuse without a token
    result = cli(no_token, "serve", "--host", anywhere, "--port", str(free_port()), timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "wirestream serve: refusing to listen on 0.0.0.0 without a token: set "
        "WIRESTREAM_INGEST_TOKEN (clients then send Authorization: Bearer <token>) or use "
        "--host 127.0.0.1"
    ]


def post(base: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{base}/v1/articles", data=body, headers=headers) as r,
        ):
            return r.status, await r.json(content_type=None)

    return asyncio.run(go())


def article(n: int) -> dict[str, str]:
    return {
        "headline": f"Ingest story {n}: the central bank raised interest rates",
        "body": f"The central bank in Stockholm raised its interest rate on day {n}.",
        "source": "ops-ingest",
    }


def test_ingest_1000_articles_routed_or_refused(
    base: str, env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    json_headers = {**AUTH, "Content-Type": "application/json"}
    accepted: list[str] = []
    for start in range(0, 1000, 100):
        batch = [article(n) for n in range(start, start + 100)]
        status, body = post(base, orjson.dumps(batch), json_headers)
        assert status == 202, body
        assert [set(item) for item in body] == [{"id", "guid", "version"}] * 100
        accepted += [item["id"] for item in body]
    assert len(set(accepted)) == 1000

    # Refused, nothing published: a bad item among good ones, not JSON, too large, no token
    mixed = [article(2000), {"body": "no headline"}, article(2001), {"headline": 5, "body": "x"}]
    status, body = post(base, orjson.dumps(mixed), json_headers)
    assert status == 400
    assert body["error"] == "2 of 4 items are invalid; nothing was published"
    assert [(i["item"], i["code"]) for i in body["items"]] == [
        (2, "missing_field"),
        (4, "wrong_type"),
    ]
    status, body = post(base, b"{not json", json_headers)
    assert status == 400 and body["items"][0]["code"] == "invalid_json"
    huge = {**article(3000), "body": "word " * 5000}
    status, body = post(base, orjson.dumps(huge), json_headers)
    assert status == 413, body
    status, body = post(base, orjson.dumps(article(3001)), {"Content-Type": "application/json"})
    assert status == 401

    worker = start_worker(env, tmp_path / "worker.log")
    try:
        servers = settings.bootstrap_servers
        routed = read(
            servers,
            [t for t in pipeline_topics(settings) if t != ARTICLES],
            until=lambda rs: sum(r.topic == ENRICHED for r in rs) >= 1000,
            timeout=300,
        )
        inputs = read(servers, [ARTICLES], idle=2.0)
    finally:
        worker.stop()
    assert sorted(r.key for r in inputs) == sorted(accepted)
    enriched = [r for r in routed if r.topic == ENRICHED]
    assert sorted(r.value["id"] for r in enriched) == sorted(accepted)
    assert [r for r in routed if r.topic == DEADLETTER] == []
    economy = {
        r.value["id"]
        for r in routed
        if r.topic == "wirestream.topic.economy" and r.value.get("source") == "ops-ingest"
    }  # (the filter test wrote other records there)
    assert economy == set(accepted)  # every one is about interest rates


def test_a_client_that_stops_reading_is_dropped_with_a_final_event(
    settings: Settings,
) -> None:
    """The server keeps at most WIRESTREAM_SERVE_QUEUE events for a client; one that
    leaves them unread for WIRESTREAM_SERVE_SLOW_SECONDS gets a final ``dropped`` event
    and is disconnected, and resuming from its last id gets exactly the rest."""
    from streams.serve import running

    topic, count, size = "wirestream.topic.health", 4000, 8000
    create_topics(settings)
    small = settings.model_copy(update={"serve_queue": 5, "serve_slow_seconds": 1.0})

    async def scenario() -> tuple[bytes, list[dict[str, str]]]:
        port = free_port()
        async with running(small, "127.0.0.1", port, {topic: "test"}, lambda q: bool) as url:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /v1/stream/{topic}?from=latest HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            assert (await reader.readline()).startswith(b"HTTP/1.0 200")
            pad = "x" * size
            messages = [
                (f"slow-{n}".encode(), orjson.dumps({"id": f"slow-{n}", "n": n, "pad": pad}))
                for n in range(count)
            ]
            await produce(settings.bootstrap_servers, topic, messages)
            await asyncio.sleep(4.0)  # not reading: the server's queue stays full
            received = await asyncio.wait_for(reader.read(), 60)  # to the end: dropped
            writer.close()
            events = [
                dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
                for block in received.decode(errors="replace").split("\n\n")
            ]
            records = [e for e in events if "id" in e and "data" in e and "event" not in e]
            rest = await take(
                f"{url}/v1/stream/{topic}",
                count - len(records),
                {"Last-Event-ID": records[-1]["id"]},
            )
            return received, records + rest

    received, records = asyncio.run(scenario())
    assert b"event: dropped\n" in received
    assert b"client too slow: 5 events waited over 1 s" in received
    numbers = [orjson.loads(r["data"])["n"] for r in records]
    assert len(received) < count * size / 2  # dropped long before the end
    assert sorted(numbers) == list(range(count))  # nothing lost, nothing twice


def test_a_browser_gets_the_token_as_a_cookie_for_get_requests_only(base: str) -> None:
    async def go() -> None:
        jar = aiohttp.CookieJar(unsafe=True)  # keeps cookies of an IP address, as browsers do
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            async with session.get(f"{base}/?token=wrong", allow_redirects=False) as r:
                assert r.status == 401
            async with session.get(f"{base}/?token={TOKEN}", allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == "/"
                cookie = r.headers["Set-Cookie"]
                assert "wirestream_token=" in cookie and "HttpOnly" in cookie
                assert "SameSite=Strict" in cookie
            async with session.get(f"{base}/") as r:  # the cookie, no header
                assert r.status == 200 and "<title>Wirestream" in await r.text()
            async with session.get(f"{base}/v1/topics") as r:
                assert r.status == 200
            body = orjson.dumps(article(4000))
            async with session.post(f"{base}/v1/articles", data=body) as r:
                assert r.status == 401  # posting needs the header, never the cookie
        async with aiohttp.ClientSession() as fresh, fresh.get(f"{base}/") as r:
            assert r.status == 401

    asyncio.run(go())
