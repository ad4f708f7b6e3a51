"""A local aiohttp server serving RSS, Atom and JSON feeds (and broken ones) for the
feed poller's tests (tests/streams/test_feeds.py, tests/integration/test_feed_poller.py)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web


def rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://example.org/{guid}</link><description>{text}</description>"
        "<pubDate>Thu, 03 Dec 2026 09:00:00 GMT</pubDate></item>"
        for guid, title, text in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Test Wire</title><link>https://example.org/</link>"
        f"<description>test</description>{body}</channel></rss>"
    ).encode()


def atom(entries: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<entry><id>{guid}</id><title>{title}</title><updated>2026-12-03T09:00:00Z</updated>"
        f'<link href="https://example.org/{guid}"/><content type="text">{text}</content></entry>'
        for guid, title, text in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Atom Wire</title><id>urn:test:atom</id><updated>2026-12-03T09:00:00Z</updated>"
        f"{body}</feed>"
    ).encode()


RSS_ITEMS = [
    ("urn:test:rss:1", "Port strike ends", "Dock workers in Rotterdam returned to work today."),
    ("urn:test:rss:2", "Rates held", "The central bank kept its main rate at four per cent."),
]
ATOM_ITEMS = [
    ("urn:test:atom:1", "Floods in the north", "Rivers burst their banks after heavy rain."),
    ("urn:test:atom:2", "Talks resume", "Negotiators met again in Geneva on Thursday."),
]


def wire_id(guid: str) -> str:
    return hashlib.sha256(guid.encode()).hexdigest()[:16]


@dataclass
class Server:
    """What the local server serves and what it saw."""

    base: str = ""
    rss: bytes = rss(RSS_ITEMS)
    atom: bytes = atom(ATOM_ITEMS)
    json: bytes = b"[]"
    validators: bool = True  # False: no ETag / Last-Modified (and no 304)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    compressed: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def make_app(server: Server) -> web.Application:
    async def seen(request: web.Request) -> None:
        server.requests.append((request.path, dict(request.headers)))

    async def rss_feed(request: web.Request) -> web.StreamResponse:
        await seen(request)
        etag = '"' + hashlib.sha256(server.rss).hexdigest()[:12] + '"'
        if server.validators and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        resp = web.Response(body=server.rss, content_type="application/rss+xml")
        if server.validators:
            resp.headers["ETag"] = etag
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            resp.enable_compression(web.ContentCoding.gzip)
            server.compressed.append(request.path)
        return resp

    async def atom_feed(request: web.Request) -> web.StreamResponse:
        await seen(request)
        modified = "Thu, 03 Dec 2026 09:00:00 GMT"
        if server.validators and request.headers.get("If-Modified-Since") == modified:
            return web.Response(status=304)
        resp = web.Response(body=server.atom, content_type="application/atom+xml")
        if server.validators:
            resp.headers["Last-Modified"] = modified
        return resp

    async def json_feed(request: web.Request) -> web.StreamResponse:
        await seen(request)
        etag = '"' + hashlib.sha256(server.json).hexdigest()[:12] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(
            body=server.json, content_type="application/json", headers={"ETag": etag}
        )

    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"\x00\x01<html>not a feed", content_type="text/html")

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.Response(body=server.rss)

    async def loop(request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        raise web.HTTPFound(f"/loop/{n + 1}")

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(20):  # 1.28 MB without a Content-Length
            await resp.write(b"<!-- " + b"x" * 64_000 + b" -->")
        await resp.write_eof()
        return resp

    async def missing(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/rss", rss_feed)
    app.router.add_get("/atom", atom_feed)
    app.router.add_get("/json", json_feed)
    app.router.add_get("/garbage", garbage)
    app.router.add_get("/slow", slow)
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/big", big)
    app.router.add_get("/down", missing)
    return app


def serve() -> Iterator[tuple[Server, asyncio.AbstractEventLoop]]:
    """A local HTTP server on a free port, in its own event loop (the body of the tests'
    ``server`` fixture)."""
    state = Server()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(state))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    state.base = f"http://127.0.0.1:{port}"
    try:
        yield state, loop
    finally:
        loop.run_until_complete(runner.cleanup())
        loop.close()
