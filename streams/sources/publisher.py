"""The publisher: ONE way to send articles to ``wirestream.articles``.

:func:`publish_items` takes any iterable of validated articles (:class:`Loaded`) and
per-item errors (:class:`FileError`): from files (:func:`publish`, a thin wrapper), the
drop folder, a feed or an HTTP request. It sends them with the article id as key,
``acks=all``, requests sized for ``WIRESTREAM_MAX_ARTICLE_BYTES``, the broker retried for
up to ``timeout`` seconds, and a progress bar on a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.broker import BrokerError, wait_for_broker
from streams.settings import Settings, kafka_options
from streams.sources.readers import FileError, Loaded, find_files, load_items, skipped_of
from streams.topics import ARTICLES, ensure_topics

#: Sends gathered per round trip; well above 5,000 small articles/s on the embedded broker.
SEND_CHUNK = 2000


@dataclass
class PublishReport:
    """What :func:`publish` (or :func:`watch`) did."""

    published: int = 0
    ids: list[str] = field(default_factory=list)
    failed_files: list[FileError] = field(default_factory=list)
    files: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Items skipped on purpose, not errors: pictures, video, audio, packages without
    #: text (``"PATH: picture urn:x: not text"``).
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no file failed (the CLI exits non-zero otherwise)."""
        return not self.failed_files

    @property
    def errors(self) -> list[str]:
        """One readable message per failed file."""
        return [str(err) for err in self.failed_files]

    def summary(self) -> str:
        rate = f" ({self.published / self.seconds:,.0f}/s)" if self.seconds > 0 else ""
        failed = f", {len(self.failed_files)} failed" if self.failed_files else ""
        noun = "article" if self.published == 1 else "articles"
        skipped = f", {len(self.skipped)} non-text items skipped" if self.skipped else ""
        return (
            f"published {self.published} {noun} from {self.files} files{failed}{skipped} "
            f"in {self.seconds:.2f} s{rate}"
        )


def _is_tty(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):
        return False


def _say(out: TextIO | None, message: str) -> None:
    if out is not None:
        print(message, file=out, flush=True)


def producer_options(settings: Settings) -> dict[str, Any]:
    """aiokafka producer options: connection, acks=all, requests sized for big articles."""
    max_request = max(settings.max_article_bytes + 64 * 1024, 1024 * 1024)
    return {
        **kafka_options(settings),
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 5,
        "max_batch_size": min(256 * 1024, max_request),
        "max_request_size": max_request,
        "client_id": "wirestream-publish",
    }


async def _start_producer(
    settings: Settings, timeout: float, create_topic: bool
) -> AIOKafkaProducer:
    """Wait for the broker (up to ``timeout`` s), create the topic, start a producer."""
    await wait_for_broker(settings, timeout)
    if create_topic:
        await ensure_topics(settings, [ARTICLES])
    producer = AIOKafkaProducer(**producer_options(settings))
    try:
        await producer.start()
    except KafkaError as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise BrokerError(f"cannot connect a producer to {settings.broker}: {exc}") from exc
    return producer


async def send_items(
    producer: AIOKafkaProducer,
    items: Sequence[Loaded],
    *,
    topic: str = ARTICLES,
    bar: Any = None,
) -> tuple[list[Loaded], dict[str, FileError]]:
    """Send in gathered chunks, wait for every delivery; return delivered and per-file errors."""
    delivered: list[Loaded] = []
    failures: dict[str, list[BaseException]] = {}
    for start in range(0, len(items), SEND_CHUNK):
        chunk = items[start : start + SEND_CHUNK]
        pending: list[tuple[Loaded, asyncio.Future[Any]]] = []
        for item in chunk:
            try:
                future = await producer.send(topic, item.value, key=item.key)
            except Exception as exc:  # noqa: BLE001 - reported per file
                failures.setdefault(item.path, []).append(exc)
            else:
                pending.append((item, future))
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        for (item, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                failures.setdefault(item.path, []).append(result)
            else:
                delivered.append(item)
        if bar is not None:
            bar.update(len(chunk))
    totals: dict[str, int] = {}
    for item in items:
        totals[item.path] = totals.get(item.path, 0) + 1
    errors = {
        path: FileError(
            path,
            f"delivery failed for {len(excs)} of {totals[path]} articles: "
            f"{type(excs[0]).__name__}: {excs[0]}",
            "delivery_failed",
        )
        for path, excs in failures.items()
    }
    return delivered, errors


async def publish_items(
    items: Iterable[Loaded | FileError],
    settings: Settings,
    *,
    progress: bool = True,
    out: TextIO | None = sys.stderr,
    timeout: float = 30.0,
    create_topic: bool = True,
    report: PublishReport | None = None,
) -> PublishReport:
    """Publish every article of ``items``; each :class:`FileError` among them is a failed
    source (listed in ``failed_files`` and printed to ``out``). Sources (files, feed
    items) are counted by their ``path`` unless ``report`` already counts them.

    The broker is retried for up to ``timeout`` seconds;
    :class:`~streams.broker.BrokerError` if it stays unreachable. ``create_topic``
    creates ``wirestream.articles`` with the configured partitions if it is missing
    (brokers that auto-create topics would otherwise make it with their default).
    """
    started = time.monotonic()
    count_sources = report is None
    report = report if report is not None else PublishReport()
    good: list[Loaded] = []
    sources: set[str] = set()
    for item in items:
        if isinstance(item, FileError):
            sources.add(item.path)
            report.failed_files.append(item)
            _say(out, f"error: {item}")
        else:
            sources.add(item.path)
            good.append(item)
    if count_sources:
        report.files += len(sources)
    if good:
        producer = await _start_producer(settings, timeout, create_topic)
        try:
            from tqdm import tqdm

            with tqdm(
                total=len(good),
                unit="article",
                file=out,
                disable=not (progress and out is not None and _is_tty(out)),
                desc="publishing",
                leave=False,
            ) as bar:
                delivered, errors = await send_items(producer, good, bar=bar)
        finally:
            await producer.stop()
        for failure in errors.values():
            report.failed_files.append(failure)
            _say(out, f"error: {failure}")
        report.published += len(delivered)
        report.ids += [item.article.id for item in delivered]
    report.seconds += time.monotonic() - started
    return report


async def publish(
    paths: Iterable[str | os.PathLike[str]],
    settings: Settings,
    *,
    progress: bool = True,
    out: TextIO | None = sys.stderr,
    timeout: float = 30.0,
    create_topic: bool = True,
    fmt: str | None = None,
) -> PublishReport:
    """Load every file (directories expanded by :func:`find_files`), then publish all
    good articles (:func:`publish_items`). Files with any bad article publish nothing and
    are listed in ``failed_files`` (also printed to ``out``). ``fmt`` forces a reader
    (a name in ``READERS``) instead of detecting each file's format; items that are not
    text are counted in ``skipped`` (and printed to ``out``)."""
    started = time.monotonic()
    report = PublishReport()
    files = find_files(paths, report.notes)
    for note in report.notes:
        _say(out, f"note: {note}")
    items: list[Loaded | FileError] = []
    for path in files:
        report.files += 1
        try:
            loaded = await asyncio.to_thread(load_items, path, settings, fmt)
        except FileError as err:
            items.append(err)
            continue
        items += loaded
        for line in skipped_of(loaded):
            report.skipped.append(f"{path}: {line}")
            _say(out, f"skipped: {path}: {line}")
    await publish_items(
        items,
        settings,
        progress=progress,
        out=out,
        timeout=timeout,
        create_topic=create_topic,
        report=report,
    )
    report.seconds = time.monotonic() - started
    return report
