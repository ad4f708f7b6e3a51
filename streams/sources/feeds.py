"""The feed poller (``wirestream feed URL... [--every S] [--once]``).

Each round fetches every feed that is due over HTTP(S) (conditional GET with ETag and
Last-Modified, gzip, ``WIRESTREAM_FEED_TIMEOUT``, at most ``WIRESTREAM_FEED_MAX_BYTES``
after decompression, at most :data:`MAX_REDIRECTS` redirects), reads it with the reader
table (``readers.read_bytes``: RSS, Atom, ninjs, NewsML-G2, JSON), and publishes through
``publisher.publish_items`` only the items that are new or whose content changed. A
changed item is published as the next version: ``max(provider version, last published
version + 1)``; RSS and Atom have no version of their own, so their versions are the
poller's count of content changes per id. What was published (per id: content hash and
version) and each feed's validators and backoff are kept in a state file in
``WIRESTREAM_DATA_DIR`` (:data:`STATE_FILE`), written atomically after each round, so a
restarted poller republishes nothing.

A feed that fails (network, HTTP error, garbage) is reported on its poll line and waits
``every * 2**(failures - 1)`` seconds (at most :data:`BACKOFF_MAX`) before its next try;
the other feeds go on. Only ``http`` and ``https`` URLs are polled (:func:`check_url`).

The pure parts (:func:`sort_items`, :func:`next_version`, :func:`backoff`,
:class:`PollState`) know nothing of HTTP or Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import orjson

from streams.settings import Settings
from streams.sources import readers
from streams.sources.readers import FileError, Loaded

log = logging.getLogger(__name__)

SCHEMES = ("http", "https")
#: Redirects followed per request; one more is a poll error.
MAX_REDIRECTS = 3
#: The longest wait (s) of a failing feed before its next try.
BACKOFF_MAX = 3600.0
#: The poller's state, in WIRESTREAM_DATA_DIR.
STATE_FILE = "feeds-state.json"
STATE_FORMAT = 1
#: Fields that are not content: a new provider version with the same text is unchanged.
NOT_CONTENT = frozenset({"version", "version_created"})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.9, */*;q=0.1"
)


class FeedUrlError(ValueError):
    """A URL the poller refuses (not http or https, no host)."""


class FetchError(Exception):
    """A poll that got no usable document: one line saying why."""


class StateError(Exception):
    """A state file that cannot be read (the poller would otherwise republish everything)."""


def check_url(url: str) -> str:
    """``url`` if it is an absolute http or https URL with a host; :class:`FeedUrlError`."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in SCHEMES:
        shown = parts.scheme or "no scheme"
        raise FeedUrlError(f"{url!r}: only http and https URLs can be polled (got {shown})")
    if not parts.hostname:
        raise FeedUrlError(f"{url!r}: no host")
    return url.strip()


# -- state ---------------------------------------------------------------------------------


@dataclass
class FeedState:
    """One feed's validators and error backoff."""

    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    retry_at: float = 0.0  # wall-clock seconds; due when now >= retry_at


@dataclass(frozen=True)
class Seen:
    """What was last published for one article id."""

    hash: str
    version: int


@dataclass
class PollState:
    """Everything the poller remembers across restarts."""

    feeds: dict[str, FeedState] = field(default_factory=dict)
    items: dict[str, Seen] = field(default_factory=dict)

    def feed(self, url: str) -> FeedState:
        return self.feeds.setdefault(url, FeedState())

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "format": STATE_FORMAT,
                "feeds": {url: asdict(f) for url, f in self.feeds.items()},
                "items": {key: [s.hash, s.version] for key, s in self.items.items()},
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> PollState:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a feed state file of format {STATE_FORMAT}")
        feeds = {url: FeedState(**f) for url, f in data["feeds"].items()}
        items = {key: Seen(str(h), int(v)) for key, (h, v) in data["items"].items()}
        return cls(feeds, items)

    @classmethod
    def load(cls, path: Path) -> PollState:
        """The state in ``path``; an empty state when it does not exist yet."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise StateError(f"cannot read the feed state {path}: {exc.strerror}") from None
        try:
            return cls.from_json(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise StateError(
                f"the feed state {path} is unreadable ({exc}); move it away to start afresh"
                " (every item is then published again)"
            ) from None

    def save(self, path: Path) -> None:
        """Write atomically: a temporary file in the same directory, fsync, rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(self.to_json())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def state_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / STATE_FILE


# -- pure decisions ------------------------------------------------------------------------


def content_hash(item: Loaded) -> str:
    """A hash of the article's content: every field but its version and version time."""
    data = item.article.to_representation()
    content = {k: v for k, v in data.items() if k not in NOT_CONTENT}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def provider_version(item: Loaded) -> int | None:
    """The version the source gave the item (ninjs, NewsML-G2), if any."""
    version = getattr(item.article, "version", None)
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def next_version(provider: int | None, seen: Seen | None) -> int:
    """The version to publish: the provider's, but always above what was published."""
    last = seen.version if seen is not None else 0
    return max(provider or 1, last + 1)


def with_version(item: Loaded, version: int, max_bytes: int) -> Loaded:
    """``item`` carrying ``version`` (``readers.with_version``); itself when it has it."""
    if provider_version(item) == version:
        return item
    return readers.with_version(item, version, max_bytes)


@dataclass
class Sorted:
    """One feed document's items: what to publish and the counts."""

    publish: list[tuple[Loaded, Seen]] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    unchanged: int = 0


def sort_items(items: Iterable[Loaded], seen: dict[str, Seen], max_bytes: int) -> Sorted:
    """Which items to publish, with the version each gets. ``seen`` (id -> last published)
    is updated as if they were published, so a second copy of an item in the same round
    is unchanged; the caller passes a copy and keeps it only once delivered."""
    out = Sorted()
    for item in items:
        key = item.article.id
        digest = content_hash(item)
        before = seen.get(key)
        if before is not None and before.hash == digest:
            out.unchanged += 1
            continue
        version = next_version(provider_version(item), before)
        after = Seen(digest, version)
        out.publish.append((with_version(item, version, max_bytes), after))
        seen[key] = after
        if before is None:
            out.new += 1
        else:
            out.changed += 1
    return out


def backoff(failures: int, every: float) -> float:
    """Seconds a feed that failed ``failures`` times in a row waits before its next try."""
    if failures <= 0:
        return 0.0
    return float(min(max(every, 1.0) * 2 ** min(failures - 1, 30), BACKOFF_MAX))


# -- HTTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """A fetch's answer: 200 with the body, or 304 (not modified) without one."""

    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


async def fetch(
    session: Any,
    url: str,
    state: FeedState,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = MAX_REDIRECTS,
) -> Fetched:
    """GET ``url`` (conditional on ``state``'s validators, gzip accepted); :class:`FetchError`
    for anything but a 200 within the limits or a 304."""
    import aiohttp

    headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    try:
        async with session.get(
            url,
            headers=headers,
            max_redirects=max_redirects,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            scheme = resp.url.scheme.lower()
            if scheme not in SCHEMES:
                raise FetchError(f"redirected to a {scheme} URL")
            if resp.status == 304:
                return Fetched(304, b"", state.etag, state.last_modified)
            if resp.status != 200:
                raise FetchError(f"HTTP {resp.status} {resp.reason or ''}".rstrip())
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise FetchError(f"too_large: {resp.content_length} bytes, over {max_bytes}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"too_large: over {max_bytes} bytes")
                chunks.append(chunk)
            return Fetched(
                200,
                b"".join(chunks),
                resp.headers.get("ETag"),
                resp.headers.get("Last-Modified"),
            )
    except aiohttp.TooManyRedirects:
        raise FetchError(f"more than {max_redirects} redirects") from None
    except TimeoutError:
        raise FetchError(f"timed out after {timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


# -- one round -----------------------------------------------------------------------------


@dataclass
class PollResult:
    """One feed's poll: the line the poller logs."""

    url: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: int = 0
    note: str = ""

    def line(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return (
            f"feed {self.url}: new {self.new}, changed {self.changed}, "
            f"unchanged {self.unchanged}, errors {self.errors}{note}"
        )


#: bytes, name (the URL) and the size limit of one article -> validated articles.
Parse = Callable[[bytes, str, int], list[Loaded]]
#: items to send -> ids of the articles the broker acknowledged.
Publish = Callable[[list[Loaded]], Awaitable[set[str]]]


def default_parse(raw: bytes, name: str, max_bytes: int) -> list[Loaded]:
    """The reader table, format detected from the content."""
    return readers.read_bytes(raw, name=name, max_bytes=max_bytes)


def due(state: FeedState, now: float) -> bool:
    return now >= state.retry_at


def failed(state: FeedState, every: float, now: float) -> None:
    state.failures += 1
    state.retry_at = now + backoff(state.failures, every)


async def poll_round(
    urls: Sequence[str],
    state: PollState,
    *,
    session: Any,
    publish: Publish,
    settings: Settings,
    every: float,
    parse: Parse = default_parse,
    now: Callable[[], float] = time.time,
) -> list[PollResult]:
    """Poll every due feed once, publish what is new or changed, update ``state`` for
    what was delivered (the caller saves it). Returns one result per feed polled."""
    results: list[PollResult] = []
    pending: list[tuple[str, Fetched, Sorted]] = []
    seen = dict(state.items)
    for url in urls:
        feed = state.feed(url)
        if not due(feed, now()):
            continue
        result = PollResult(url)
        results.append(result)
        try:
            got = await fetch(
                session,
                url,
                feed,
                max_bytes=settings.feed_max_bytes,
                timeout=settings.feed_timeout,
            )
            if got.status == 304:
                result.note = "304 not modified"
                feed.failures, feed.retry_at = 0, 0.0
                continue
            items = await asyncio.to_thread(parse, got.body, url, settings.max_article_bytes)
            chosen = sort_items(items, seen, settings.max_article_bytes)
        except (FetchError, FileError) as exc:
            result.errors += 1
            reason = exc.reason if isinstance(exc, FileError) else str(exc)
            failed(feed, every, now())
            result.note = f"{reason}; next try in {feed.retry_at - now():.0f} s"
            continue
        result.new, result.changed, result.unchanged = chosen.new, chosen.changed, chosen.unchanged
        pending.append((url, got, chosen))
    to_send = [item for _, _, chosen in pending for item, _ in chosen.publish]
    delivered: set[str] = set()
    broker_error = ""
    if to_send:
        try:
            delivered = await publish(to_send)
        except Exception as exc:  # noqa: BLE001 - the broker: every feed retries next round
            broker_error = f"publishing failed: {type(exc).__name__}: {exc}"
    for url, got, chosen in pending:
        feed = state.feed(url)
        result = next(r for r in results if r.url == url)
        lost = [item for item, _ in chosen.publish if item.article.id not in delivered]
        for item, after in chosen.publish:
            if item.article.id in delivered:
                state.items[item.article.id] = after
        if lost:
            # Keep the old validators: the next poll fetches the whole document again and
            # publishes what was not delivered.
            result.errors += 1
            result.note = broker_error or f"{len(lost)} items not delivered"
            failed(feed, every, now())
            continue
        feed.etag, feed.last_modified = got.etag, got.last_modified
        feed.failures, feed.retry_at = 0, 0.0
    return results


# -- the poller ----------------------------------------------------------------------------


async def kafka_publish(items: list[Loaded], settings: Settings, out: TextIO | None) -> set[str]:
    """Publish through the one publisher; the ids the broker acknowledged."""
    from streams.sources.publisher import publish_items

    report = await publish_items(items, settings, progress=False, out=out, timeout=10.0)
    return set(report.ids)


async def run(
    urls: Sequence[str],
    settings: Settings,
    *,
    every: float = 300.0,
    once: bool = False,
    out: TextIO = sys.stderr,
    stop: asyncio.Event | None = None,
    publish: Publish | None = None,
    parse: Parse = default_parse,
) -> list[PollResult]:
    """Poll ``urls`` every ``every`` seconds (one round with ``once``) until ``stop`` is
    set; one line per feed polled to ``out``. Returns the last round's results."""
    import aiohttp

    for url in urls:
        check_url(url)
    path = state_path(settings)
    state = PollState.load(path)
    send = publish or (lambda items: kafka_publish(items, settings, out))
    stop = stop or asyncio.Event()
    results: list[PollResult] = []
    async with aiohttp.ClientSession(
        headers={"User-Agent": "wirestream-feed"}, auto_decompress=True
    ) as session:
        while True:
            results = await poll_round(
                urls, state, session=session, publish=send, settings=settings,
                every=every, parse=parse,
            )  # fmt: skip
            state.save(path)
            for result in results:
                print(result.line(), file=out, flush=True)
            if once or stop.is_set():
                return results
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            if stop.is_set():
                return results
