"""The feed poller (streams.sources.feeds) against a local aiohttp server serving RSS and
Atom: conditional GET, gzip, versions of changed items, restarts, and feeds that fail."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from streams.sources import feeds
from streams.sources.readers import Loaded
from tests.feed_server import ATOM_ITEMS, RSS_ITEMS, Server, rss, serve, wire_id
from tests.helpers import cli, worker_env


class Recorder:
    """The publish step: records what the poller publishes, acknowledges every item."""

    def __init__(self) -> None:
        self.items: list[Loaded] = []

    async def __call__(self, items: list[Loaded]) -> set[str]:
        self.items += items
        return {item.article.id for item in items}

    def versions(self) -> list[tuple[str, int]]:
        return [(i.article.id, getattr(i.article, "version", None)) for i in self.items]


def settings(tmp_path: Path, **extra: Any) -> Settings:
    options: dict[str, Any] = {"feed_timeout": 1.0, "feed_max_bytes": 1_000_000, **extra}
    return Settings(data_dir=tmp_path, **options)


def run(
    loop: asyncio.AbstractEventLoop, urls: list[str], conf: Settings, publish: Recorder
) -> list[feeds.PollResult]:
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    return loop.run_until_complete(
        feeds.run(urls, conf, once=True, every=5.0, out=Out(), publish=publish)  # type: ignore[arg-type]
    )


def counts(results: list[feeds.PollResult]) -> list[tuple[str, int, int, int, int]]:
    return [(r.url.rsplit("/", 1)[-1], r.new, r.changed, r.unchanged, r.errors) for r in results]


def test_poll_twice_change_one_item_and_restart(server: Any, tmp_path: Path) -> None:
    srv, loop = server
    conf = settings(tmp_path)
    urls = [srv.url("/rss"), srv.url("/atom")]
    published = Recorder()

    first = run(loop, urls, conf, published)
    assert counts(first) == [("rss", 2, 0, 0, 0), ("atom", 2, 0, 0, 0)]
    ids = [wire_id(g) for g, _, _ in RSS_ITEMS + ATOM_ITEMS]
    assert published.versions() == [(i, 1) for i in ids]
    assert [i.article.headline for i in published.items] == [
        t for _, t, _ in RSS_ITEMS + ATOM_ITEMS
    ]
    assert srv.compressed == ["/rss"]  # the RSS answer came gzip-compressed
    assert (tmp_path / feeds.STATE_FILE).is_file()

    second = run(loop, urls, conf, published)  # conditional GET: both 304
    assert counts(second) == [("rss", 0, 0, 0, 0), ("atom", 0, 0, 0, 0)]
    assert [r.note for r in second] == ["304 not modified", "304 not modified"]
    rss_requests = [h for path, h in srv.requests if path == "/rss"]
    assert rss_requests[1]["If-None-Match"].startswith('"')
    atom_requests = [h for path, h in srv.requests if path == "/atom"]
    assert atom_requests[1]["If-Modified-Since"] == "Thu, 03 Dec 2026 09:00:00 GMT"
    assert len(published.items) == 4

    changed = [RSS_ITEMS[0], (RSS_ITEMS[1][0], RSS_ITEMS[1][1], "The bank cut its rate.")]
    srv.rss = rss(changed)
    third = run(loop, urls, conf, published)
    assert counts(third) == [("rss", 0, 1, 1, 0), ("atom", 0, 0, 0, 0)]
    assert published.versions()[4:] == [(wire_id("urn:test:rss:2"), 2)]
    assert published.items[4].article.body == "The bank cut its rate."

    # A restarted poller, and a server that no longer sends validators: the full feeds
    # come back and the remembered content hashes keep everything unpublished.
    srv.validators = False
    restarted = run(loop, urls, conf, Recorder())
    assert counts(restarted) == [("rss", 0, 0, 2, 0), ("atom", 0, 0, 2, 0)]
    again = Recorder()
    srv.rss = rss([*changed, ("urn:test:rss:3", "New story", "A third story arrived.")])
    run(loop, urls, conf, again)
    assert again.versions() == [(wire_id("urn:test:rss:3"), 1)]


def test_failing_feeds_are_reported_and_the_others_go_on(server: Any, tmp_path: Path) -> None:
    srv, loop = server
    conf = settings(tmp_path, feed_max_bytes=500_000)
    names = ["/garbage", "/slow", "/loop/0", "/big", "/down", "/rss"]
    published = Recorder()
    started = time.monotonic()
    results = run(loop, [srv.url(n) for n in names], conf, published)
    assert time.monotonic() - started < 10
    by_name = {r.url.removeprefix(srv.base): r for r in results}
    assert [by_name[n].errors for n in names] == [1, 1, 1, 1, 1, 0]
    assert by_name["/slow"].note.startswith("timed out after 1 s")
    assert by_name["/loop/0"].note.startswith("more than 3 redirects")
    assert by_name["/big"].note.startswith("too_large: over 500000 bytes")
    assert by_name["/down"].note.startswith("HTTP 503")
    assert "next try in 5 s" in by_name["/garbage"].note
    assert by_name["/rss"].new == 2
    assert len(published.items) == 2
    # backoff: the failed feeds are not due at once, the good one is
    state = feeds.PollState.load(tmp_path / feeds.STATE_FILE)
    assert state.feeds[srv.url("/garbage")].failures == 1
    assert state.feeds[srv.url("/garbage")].retry_at > time.time() + 3
    again = run(loop, [srv.url(n) for n in names], conf, published)
    assert [r.url.removeprefix(srv.base) for r in again] == ["/rss"]


def test_publish_failure_keeps_the_items_for_the_next_poll(server: Any, tmp_path: Path) -> None:
    srv, loop = server
    conf = settings(tmp_path)

    async def broken(items: list[Loaded]) -> set[str]:
        raise ConnectionError("broker down")

    with open(os.devnull, "w") as out:
        lines = loop.run_until_complete(
            feeds.run([srv.url("/rss")], conf, once=True, out=out, publish=broken)
        )
    assert lines[0].errors == 1 and "broker down" in lines[0].note
    state = feeds.PollState.load(tmp_path / feeds.STATE_FILE)
    assert state.items == {} and state.feeds[srv.url("/rss")].etag is None
    # the feed is in backoff; once due again, everything is published
    state.feeds[srv.url("/rss")].retry_at = 0
    state.save(tmp_path / feeds.STATE_FILE)
    published = Recorder()
    assert counts(run(loop, [srv.url("/rss")], conf, published)) == [("rss", 2, 0, 0, 0)]


def test_versions_and_backoff_are_pure() -> None:
    assert feeds.next_version(None, None) == 1
    assert feeds.next_version(None, feeds.Seen("h", 3)) == 4
    assert feeds.next_version(7, feeds.Seen("h", 3)) == 7
    assert feeds.next_version(2, feeds.Seen("h", 3)) == 4
    assert [feeds.backoff(n, 10) for n in range(5)] == [0, 10, 20, 40, 80]
    assert feeds.backoff(40, 10) == feeds.BACKOFF_MAX


def test_state_is_written_atomically_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / feeds.STATE_FILE
    state = feeds.PollState()
    state.feed("https://x.test/rss").etag = '"abc"'
    state.items["a"] = feeds.Seen("h", 2)
    state.save(path)
    assert os.listdir(tmp_path) == [feeds.STATE_FILE]  # no temporary file left
    assert feeds.PollState.load(path) == state
    path.write_bytes(b'{"format": 1, "feeds": {}')
    with pytest.raises(feeds.StateError, match="unreadable"):
        feeds.PollState.load(path)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/feed", "file:///etc/passwd", "example.org/rss", "http://"]
)
def test_only_http_urls_are_polled(url: str, tmp_path: Path) -> None:
    with pytest.raises(feeds.FeedUrlError):
        feeds.check_url(url)
    result = cli(worker_env("kafka://127.0.0.1:1", tmp_path), "feed", url, "--once")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wirestream feed: ")
    assert "only http and https" in lines[0] or "no host" in lines[0]
    assert not (tmp_path / feeds.STATE_FILE).exists()


@pytest.fixture
def server() -> Iterator[tuple[Server, asyncio.AbstractEventLoop]]:
    """The local feed server (tests/feed_server.py)."""
    yield from serve()
