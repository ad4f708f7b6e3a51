"""``wirestream serve``: HTTP ingest and live streams of the topics (aiohttp).

* ``POST /v1/articles`` — a JSON article or a list of them; 202 with ``[{id, guid,
  version}]`` once the broker acknowledged every one; 400 with a reason per bad item
  (nothing published); 413 over ``WIRESTREAM_INGEST_MAX_BYTES`` (the body) or
  ``WIRESTREAM_MAX_ARTICLE_BYTES`` (an article).
* ``GET /v1/topics`` — the readable topics (the pipeline's and the routed ones).
* ``GET /v1/stream/<topic>`` — Server-Sent Events, one per record (see :func:`event`);
  ``?from=beginning|latest``, ``Last-Event-ID`` (wins over ``from``), filters as route
  conditions (``?entity_names=...&topics=...``).

With ``WIRESTREAM_INGEST_TOKEN`` set every request needs ``Authorization: Bearer
<token>`` (401 otherwise); without it the server binds loopback addresses only.
Nothing here imports ``agents``: the command line passes the topics and the filter
parser in (``streams/cli.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams import codecs
from streams.broker import wait_for_broker
from streams.consume import Start, open_consumer, polls
from streams.settings import Settings, kafka_options
from streams.sources.publisher import producer_options, send_items
from streams.sources.readers import FileError, Loaded, loaded
from streams.topics import ARTICLES, ensure_topics

log = logging.getLogger(__name__)

#: A record → does it pass the stream's filter.
Predicate = Callable[[Any], bool]
#: Query parameters (other than ``from``) → predicate; ValueError (one line) when bad.
FilterParser = Callable[[Mapping[str, Sequence[str]]], Predicate]

#: Seconds between keep-alive comments on a quiet stream.
KEEPALIVE = 15.0
#: Seconds the final event of a dropped client may take to be written.
FINAL_EVENT_TIMEOUT = 2.0
INGEST_NAME = "POST /v1/articles"


#: The dashboard's cookie (the token, for GET requests of a browser).
COOKIE = "wirestream_token"


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


class ServeError(Exception):
    """The server cannot start as asked (one line)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Refuse a non-loopback address without ``WIRESTREAM_INGEST_TOKEN``."""
    if not is_loopback(host) and not settings.ingest_token.get_secret_value():
        raise ServeError(
            f"refusing to listen on {host} without a token: set WIRESTREAM_INGEST_TOKEN "
            "(clients then send Authorization: Bearer <token>) or use --host 127.0.0.1"
        )


# -- positions and events ----------------------------------------------------------------


def encode_positions(positions: Mapping[int, int]) -> str:
    """The SSE ``id``: every partition's next offset, ``0:12,1:7,2:0``."""
    return ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))


def decode_positions(text: str) -> dict[int, int]:
    """The positions of an SSE ``id`` (ValueError when it is not one)."""
    positions = {}
    for part in text.strip().split(","):
        partition, sep, offset = part.partition(":")
        if not sep or not partition.isdigit() or not offset.isdigit():
            raise ValueError(f"bad Last-Event-ID {text[:80]!r}: expected PARTITION:OFFSET,...")
        positions[int(partition)] = int(offset)
    return positions


def _data(value: bytes) -> bytes:
    """A record's JSON on one line (a value that is not JSON: its size)."""
    if b"\n" not in value and b"\r" not in value:
        return value
    try:
        return codecs.dumps(codecs.loads(value))
    except ValueError:
        return codecs.dumps({"undecodable": len(value)})


def event(positions: Mapping[int, int], key: bytes | None, value: bytes | None) -> bytes:
    """One SSE event: ``id:`` the positions after this record, ``data:`` its JSON, or
    for a tombstone ``event: withdrawn`` and ``{"id": KEY, "withdrawn": true}``."""
    head = f"id: {encode_positions(positions)}\n".encode()
    if value is None:
        key_text = key.decode("utf-8", "replace") if key is not None else None
        return (
            head
            + b"event: withdrawn\ndata: "
            + codecs.dumps({"id": key_text, "withdrawn": True})
            + b"\n\n"
        )
    return head + b"data: " + _data(value) + b"\n\n"


def final_event(name: str, message: str) -> bytes:
    """The last event of a stream the server ends (no ``id``: resume from the last one)."""
    return f"event: {name}\n".encode() + b"data: " + codecs.dumps({"reason": message}) + b"\n\n"


# -- the application -----------------------------------------------------------------------


@dataclass
class Server:
    settings: Settings
    topics: dict[str, str]  # name -> what feeds it
    parse_filter: FilterParser
    producer: AIOKafkaProducer | None = None
    meta: AIOKafkaConsumer | None = None
    admin: AIOKafkaAdminClient | None = None
    exits: contextlib.AsyncExitStack | None = None

    def error(self, status: int, message: str, **extra: Any) -> web.Response:
        body = codecs.dumps({"error": " ".join(message.split()), **extra})
        return web.Response(body=body, status=status, content_type="application/json")

    # -- lifecycle

    async def start(self, app: web.Application) -> None:
        self.exits = contextlib.AsyncExitStack()
        await wait_for_broker(self.settings, 30.0)
        self.meta = await self.exits.enter_async_context(
            open_consumer(self.settings, metadata_max_age_ms=5000)
        )
        self.admin = AIOKafkaAdminClient(**kafka_options(self.settings))
        await self.admin.start()
        self.exits.push_async_callback(self.admin.close)

    async def stop(self, app: web.Application) -> None:
        if self.producer is not None:
            await self.producer.stop()
        if self.exits is not None:
            await self.exits.aclose()

    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            await ensure_topics(self.settings, [ARTICLES])
            producer = AIOKafkaProducer(**producer_options(self.settings))
            await producer.start()
            self.producer = producer
        return self.producer

    # -- auth

    @web.middleware
    async def auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """With a token: ``Authorization: Bearer <token>`` on every request. A browser
        (whose ``EventSource`` cannot send headers) opens ``/?token=<token>`` once: it
        gets the token as a SameSite=Strict, HttpOnly cookie, good for GET requests only
        (so another site cannot post articles with it)."""
        token = self.settings.ingest_token.get_secret_value()
        if token:
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not _same(value.strip(), token):
                cookie = request.cookies.get(COOKIE, "")
                query = request.query.get("token", "") if request.path == "/" else ""
                if request.method == "GET" and query and _same(query, token):
                    found = web.HTTPSeeOther("/")
                    found.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
                    return found
                if request.method != "GET" or not cookie or not _same(cookie, token):
                    response = self.error(401, "missing or wrong bearer token")
                    response.headers["WWW-Authenticate"] = 'Bearer realm="wirestream"'
                    return response
        result: web.StreamResponse = await handler(request)
        return result

    # -- dashboard

    async def dashboard(self, request: web.Request) -> web.Response:
        """The live desk: one page, its script and styles inline (no CDN, no fonts)."""
        page = (Path(__file__).parent / "web" / "dashboard.html").read_bytes()
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    # -- topics

    async def list_topics(self, request: web.Request) -> web.Response:
        topics = [{"name": name, "fed_by": why} for name, why in self.topics.items()]
        return web.json_response({"topics": topics}, dumps=lambda v: codecs.dumps(v).decode())

    async def partitions(self, topic: str) -> list[int] | None:
        """The topic's partitions, None when the broker does not have it. Asked each time
        (a metadata request for this topic): a consumer's cached metadata holds only the
        topics it was asked about before (Tansu answers an empty request with every
        topic, Apache Kafka with none)."""
        assert self.admin is not None
        (described,) = await self.admin.describe_topics([topic])
        if described["error_code"] or not described["partitions"]:
            return None
        return sorted(p["partition"] for p in described["partitions"])

    # -- ingest

    async def ingest(self, request: web.Request) -> web.Response:
        limit = self.settings.ingest_max_bytes
        if request.content_length is not None and request.content_length > limit:
            return self.error(413, f"the body is over the {limit} byte limit")
        raw = await request.content.read(limit + 1)
        if len(raw) > limit:
            return self.error(413, f"the body is over the {limit} byte limit")
        items = read_articles(raw, max_bytes=self.settings.max_article_bytes)
        bad = [item for item in items if isinstance(item, FileError)]
        if bad:
            status = 413 if all(e.code == "too_large" for e in bad) else 400
            reasons = [{"item": _item_number(e), "code": e.code, "reason": e.reason} for e in bad]
            noun = "item is" if len(bad) == 1 else "items are"
            return self.error(
                status,
                f"{len(bad)} of {len(items)} {noun} invalid; nothing was published",
                items=reasons,
            )
        good = [item for item in items if isinstance(item, Loaded)]
        delivered, errors = await send_items(await self._producer(), good)
        if errors:
            failure = next(iter(errors.values()))
            return self.error(
                503,
                f"the broker did not acknowledge {len(good) - len(delivered)} of {len(good)} "
                f"articles ({failure.reason}); send them again",
            )
        body = [
            {
                "id": item.article.id,
                "guid": getattr(item.article, "guid", None),
                "version": getattr(item.article, "version", None),
            }
            for item in good
        ]
        return web.json_response(body, status=202, dumps=lambda v: codecs.dumps(v).decode())

    # -- streams

    async def stream(self, request: web.Request) -> web.StreamResponse:
        topic = request.match_info["topic"]
        if topic not in self.topics:
            return self.error(404, f"no readable topic {topic!r}; GET /v1/topics lists them")
        start = request.query.get("from", "latest")
        if start not in ("beginning", "latest"):
            return self.error(400, f"from must be beginning or latest, got {start[:40]!r}")
        query = {k: request.query.getall(k) for k in request.query if k != "from"}
        predicate: Predicate | None = None
        if query:
            try:
                predicate = self.parse_filter(query)
            except ValueError as exc:
                return self.error(400, str(exc))
        resume: dict[int, int] | None = None
        last_id = request.headers.get("Last-Event-ID")
        if last_id:
            try:
                resume = decode_positions(last_id)
            except ValueError as exc:
                return self.error(400, str(exc))
        partitions = await self.partitions(topic)
        if partitions is None:
            return self.error(
                404,
                f"topic {topic!r} does not exist on the broker yet (wirestream topics --create)",
            )
        tps = [TopicPartition(topic, p) for p in partitions]
        where: Start = "beginning" if resume is not None or start == "beginning" else "end"
        async with open_consumer(
            self.settings,
            partitions=tps,
            start=where,
            isolation_level="read_committed",
        ) as consumer:
            if resume is not None:
                for tp in tps:
                    if tp.partition in resume:
                        consumer.seek(tp, resume[tp.partition])
            positions = {tp.partition: await consumer.position(tp) for tp in tps}
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                }
            )
            await response.prepare(request)
            await response.write(b"retry: 2000\n: " + topic.encode() + b"\n\n")
            await self._pump(consumer, positions, predicate, response)
            return response

    async def _pump(
        self,
        consumer: AIOKafkaConsumer,
        positions: dict[int, int],
        predicate: Predicate | None,
        response: web.StreamResponse,
    ) -> None:
        """Read the topic into a bounded queue while a writer sends it to the client; a
        client that leaves the queue full for ``WIRESTREAM_SERVE_SLOW_SECONDS`` gets a
        final ``dropped`` event and is disconnected (it may resume with its last id)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(self.settings.serve_queue)
        slow = self.settings.serve_slow_seconds

        async def read() -> str:
            quiet = 0.0
            async for records in polls(consumer, poll_ms=500):
                if not records:
                    quiet += 0.5
                    if quiet >= KEEPALIVE and not queue.full():
                        queue.put_nowait(b": keep-alive\n\n")
                        quiet = 0.0
                    continue
                quiet = 0.0
                for m in records:
                    positions[m.partition] = m.offset + 1
                    if predicate is not None and m.value is not None:
                        try:
                            record = codecs.loads(m.value)
                        except ValueError:
                            continue
                        if not isinstance(record, dict) or not predicate(record):
                            continue
                    try:
                        await asyncio.wait_for(queue.put(event(positions, m.key, m.value)), slow)
                    except TimeoutError:
                        return (
                            f"client too slow: {queue.maxsize} events waited over {slow:g} s; "
                            "reconnect with the last event id to resume"
                        )
            return "the stream ended"

        async def write() -> None:
            while True:
                await response.write(await queue.get())

        reader, writer = asyncio.create_task(read()), asyncio.create_task(write())
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done and reader.exception() is None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        response.write(final_event("dropped", reader.result())),
                        FINAL_EVENT_TIMEOUT,
                    )
                log.warning("dropped an SSE client: %s", reader.result())
        finally:
            for task in (reader, writer):
                task.cancel()
            for task in (reader, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _item_number(error: FileError) -> int | None:
    text = error.reason
    if text.startswith("item "):
        number = text[5:].split(":", 1)[0]
        if number.isdigit():
            return int(number)
    return None


def read_articles(raw: bytes, *, max_bytes: int) -> list[Loaded | FileError]:
    """THE parser of an ingest body, by its content (``streams.sources.readers.detect``):
    a JSON article or a list of them, each validated (``schemas.validation``) and
    encoded, or a :class:`FileError` saying why not (``item N: code: why`` in a list);
    any other format of the reader table (ninjs, NewsML-G2, RSS, Atom, JSON Lines) is
    read whole by :func:`streams.sources.readers.read_bytes`: its articles, or one error.
    A body nothing recognises is read as JSON and gets JSON's error."""
    from schemas.validation import InvalidArticle, article_from_dict, loads_json
    from streams.sources.readers import READERS, detect, read_bytes

    name = Path(INGEST_NAME)
    fmt = detect(raw)
    if fmt is not None and fmt is not READERS["json"]:
        try:
            return list(read_bytes(raw, name=INGEST_NAME, fmt=fmt.name, max_bytes=max_bytes))
        except FileError as exc:
            return [exc]
    try:
        data = loads_json(raw)
    except ValueError as exc:
        return [FileError(name, f"invalid_json: not valid JSON: {exc}", "invalid_json")]
    single = isinstance(data, dict)
    if single and len(raw) > max_bytes:
        return [
            FileError(
                name, f"too_large: {len(raw)} bytes is over the {max_bytes} byte limit", "too_large"
            )
        ]
    if not single and not isinstance(data, list):
        kind = "null" if data is None else type(data).__name__
        return [FileError(name, f"not_an_object: expected an article or a list, got {kind}")]
    if not single and not data:
        return [FileError(name, "empty: the list has no articles", "empty")]
    out: list[Loaded | FileError] = []
    for n, item in enumerate([data] if single else data, 1):
        where = "" if single else f"item {n}: "
        try:
            out.append(loaded(name, where, article_from_dict(item), max_bytes))
        except InvalidArticle as exc:
            out.append(FileError(name, f"{where}{exc}", exc.code))
        except FileError as exc:
            out.append(exc)
    return out


def make_app(
    settings: Settings, topics: Mapping[str, str], parse_filter: FilterParser
) -> web.Application:
    """The aiohttp application (not started)."""
    server = Server(settings, dict(topics), parse_filter)
    app = web.Application(middlewares=[server.auth], client_max_size=settings.ingest_max_bytes + 1)
    app.on_startup.append(server.start)
    app.on_cleanup.append(server.stop)
    app.router.add_get("/v1/topics", server.list_topics)
    app.router.add_get("/v1/stream/{topic}", server.stream)
    app.router.add_post("/v1/articles", server.ingest)
    app.router.add_get("/", server.dashboard)
    return app


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    host: str,
    port: int,
    topics: Mapping[str, str],
    parse_filter: FilterParser,
) -> AsyncIterator[str]:
    """The server listening on ``host:port`` (its URL), stopped on exit."""
    check_bind(host, settings)
    runner = web.AppRunner(
        make_app(settings, topics, parse_filter), handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{port}"
    finally:
        await runner.cleanup()


async def serve(
    settings: Settings,
    host: str,
    port: int,
    topics: Mapping[str, str],
    parse_filter: FilterParser,
) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings, host, port, topics, parse_filter) as url:
        auth = "bearer token required" if settings.ingest_token.get_secret_value() else "no auth"
        print(f"wirestream serve: listening on {url} ({auth})", file=sys.stderr, flush=True)
        await stop.wait()
