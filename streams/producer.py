"""Read wire articles from files and publish them to ``wirestream.articles``.

Readers (chosen by extension, case-insensitive):

* ``.txt`` — the seed format: first non-blank line is the headline; the second is the
  standfirst when the file has at least three non-blank lines and that line does not end
  with terminal punctuation; the remaining lines are the body, joined with ``"\\n"``.
* ``.json`` — one article object, or a list of them.
* ``.jsonl`` / ``.ndjson`` — one article object per non-blank line.
* directories — recursively, in sorted order; hidden files and folders are skipped and
  other extensions are ignored with a note.

Every article goes through :func:`schemas.validation.article_from_dict`, so the id is
derived from headline and body when absent and a re-sent article keeps its Kafka key.
Loading is all-or-nothing per file: a file with any bad article publishes nothing and is
reported as a :class:`FileError`; the other files go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.records import Article
from schemas.validation import InvalidArticle, article_from_dict, loads_json, parse_article
from streams.broker import BrokerError, wait_for_broker
from streams.codecs import dumps
from streams.settings import Settings, get_settings, kafka_options
from streams.topics import ARTICLES, ensure_topics

TEXT_SUFFIXES = frozenset({".txt"})
JSON_SUFFIXES = frozenset({".json"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES
#: A second line ending with one of these is body text, not a standfirst.
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "\u201d", "\u2019", "'")
#: Sends gathered per round trip; well above 5,000 small articles/s on the embedded broker.
SEND_CHUNK = 2000
PUBLISHED_DIR = ".published"
FAILED_DIR = ".failed"
_BOM = b"\xef\xbb\xbf"
_SUFFIX_LIST = ".txt, .json, .jsonl or .ndjson"


class FileError(Exception):
    """A file that publishes nothing, and why. ``str()`` is ``"PATH: REASON"``."""

    def __init__(self, path: str | os.PathLike[str], reason: str, code: str = "invalid") -> None:
        self.path = str(path)
        self.reason = reason
        self.code = code
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason, self.code))


@dataclass(frozen=True)
class Loaded:
    """One validated article, its encoded Kafka value and the file it came from."""

    path: str
    article: Article
    value: bytes

    @property
    def key(self) -> bytes:
        return self.article.id.encode()


@dataclass
class PublishReport:
    """What :func:`publish` (or :func:`watch`) did."""

    published: int = 0
    ids: list[str] = field(default_factory=list)
    failed_files: list[FileError] = field(default_factory=list)
    files: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
        return (
            f"published {self.published} {noun} from {self.files} files{failed} "
            f"in {self.seconds:.2f} s{rate}"
        )


# -- readers ----------------------------------------------------------------------------
def text_fields(text: str) -> dict[str, str]:
    """Split seed-format text into headline, standfirst and body (no validation)."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return {"headline": "", "standfirst": "", "body": ""}
    headline, rest = lines[0], lines[1:]
    standfirst = ""
    if len(lines) >= 3 and not lines[1].endswith(TERMINAL_PUNCTUATION):
        standfirst, rest = lines[1], lines[2:]
    return {"headline": headline, "standfirst": standfirst, "body": "\n".join(rest)}


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FileError(
            path, f"not valid UTF-8 (line {line}, byte {exc.start})", "invalid_utf8"
        ) from None


def _encode(path: Path, where: str, article: Article, max_bytes: int) -> Loaded:
    value = dumps(article.to_representation())
    if len(value) > max_bytes:
        raise FileError(
            path,
            f"{where}too_large: {len(value)} bytes is over the {max_bytes} byte limit",
            "too_large",
        )
    return Loaded(str(path), article, value)


def _from_dict(path: Path, where: str, data: Any, max_bytes: int) -> Loaded:
    try:
        article = article_from_dict(data)
    except InvalidArticle as exc:
        raise FileError(path, f"{where}{exc}", exc.code) from None
    return _encode(path, where, article, max_bytes)


def _read_text(path: Path, raw: bytes, max_bytes: int) -> list[Loaded]:
    fields = text_fields(_decode(path, raw))
    return [_from_dict(path, "", fields, max_bytes)]


def _read_json(path: Path, raw: bytes, max_bytes: int) -> list[Loaded]:
    text = _decode(path, raw)
    try:
        data = loads_json(text)
    except orjson.JSONDecodeError as exc:
        raise FileError(path, f"invalid_json: not valid JSON: {exc}", "invalid_json") from None
    if isinstance(data, dict):
        return [_from_dict(path, "", data, max_bytes)]
    if not isinstance(data, list):
        kind = "null" if data is None else type(data).__name__
        raise FileError(
            path,
            f"not_an_object: a .json file must hold an article object or a list of them, "
            f"got {kind}",
            "not_an_object",
        )
    if not data:
        raise FileError(path, "empty file: the JSON list has no articles", "empty")
    return [_from_dict(path, f"item {n}: ", item, max_bytes) for n, item in enumerate(data, 1)]


def _read_jsonl(path: Path, raw: bytes, max_bytes: int) -> list[Loaded]:
    _decode(path, raw)  # a file-level UTF-8 error names the line
    loaded = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"line {n}: "
        try:
            article = parse_article(line.strip(), max_bytes=max_bytes)
        except InvalidArticle as exc:
            raise FileError(path, f"{where}{exc}", exc.code) from None
        loaded.append(_encode(path, where, article, max_bytes))
    if not loaded:
        raise FileError(path, "empty file", "empty")
    return loaded


def load_items(path: str | os.PathLike[str], settings: Settings | None = None) -> list[Loaded]:
    """Like :func:`load_file`, keeping each article's encoded value for publishing."""
    path = Path(path)
    max_bytes = (settings or get_settings()).max_article_bytes
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise FileError(
            path,
            f"unsupported file type {suffix or '(none)'!r} (use {_SUFFIX_LIST})",
            "unsupported",
        )
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise FileError(path, "is a directory", "unreadable") from None
    except OSError as exc:
        raise FileError(path, f"cannot read: {exc.strerror or exc}", "unreadable") from None
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw.strip():
        raise FileError(path, "empty file", "empty")
    if suffix in TEXT_SUFFIXES:
        return _read_text(path, raw, max_bytes)
    if suffix in JSON_SUFFIXES:
        return _read_json(path, raw, max_bytes)
    return _read_jsonl(path, raw, max_bytes)


def load_file(path: str | os.PathLike[str], settings: Settings | None = None) -> list[Article]:
    """Read and validate every article of one file; :class:`FileError` if any is bad."""
    return [item.article for item in load_items(path, settings)]


def _hidden(parts: Iterable[str]) -> bool:
    return any(part.startswith(".") for part in parts)


def find_files(
    paths: Iterable[str | os.PathLike[str]], notes: list[str] | None = None
) -> list[Path]:
    """Expand directories (recursive, sorted, hidden skipped); keep files as given.

    Files of a directory with other extensions are skipped with a note appended to
    ``notes``. A path that does not exist is kept, so loading it reports the error.
    """
    found: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(path)

    for given in paths:
        root = Path(given)
        if not root.is_dir():
            add(root)
            continue
        inside: list[Path] = []
        for current, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            inside += [Path(current) / name for name in files if not name.startswith(".")]
        for path in sorted(inside, key=lambda p: p.relative_to(root).parts):
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                add(path)
            elif notes is not None:
                notes.append(f"skipped {path} (not {_SUFFIX_LIST})")
    return found


# -- publishing -------------------------------------------------------------------------
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


async def publish(
    paths: Iterable[str | os.PathLike[str]],
    settings: Settings,
    *,
    progress: bool = True,
    out: TextIO | None = sys.stderr,
    timeout: float = 30.0,
    create_topic: bool = True,
) -> PublishReport:
    """Load every file, then publish all good articles to ``wirestream.articles``.

    Files with any bad article publish nothing and are listed in ``failed_files``
    (also printed to ``out``). The broker is retried for up to ``timeout`` seconds;
    :class:`~streams.broker.BrokerError` if it stays unreachable. ``create_topic``
    creates ``wirestream.articles`` with the configured partitions if it is missing
    (brokers that auto-create topics would otherwise make it with their default).
    """
    started = time.monotonic()
    report = PublishReport()
    files = find_files(paths, report.notes)
    for note in report.notes:
        _say(out, f"note: {note}")
    items: list[Loaded] = []
    for path in files:
        report.files += 1
        try:
            items += await asyncio.to_thread(load_items, path, settings)
        except FileError as err:
            report.failed_files.append(err)
            _say(out, f"error: {err}")
    if items:
        producer = await _start_producer(settings, timeout, create_topic)
        try:
            from tqdm import tqdm

            with tqdm(
                total=len(items),
                unit="article",
                file=out,
                disable=not (progress and out is not None and _is_tty(out)),
                desc="publishing",
                leave=False,
            ) as bar:
                delivered, errors = await send_items(producer, items, bar=bar)
        finally:
            await producer.stop()
        for failure in errors.values():
            report.failed_files.append(failure)
            _say(out, f"error: {failure}")
        report.published = len(delivered)
        report.ids = [item.article.id for item in delivered]
    report.seconds = time.monotonic() - started
    return report


# -- drop folder ------------------------------------------------------------------------
def _unique(dest: Path) -> Path:
    """``dest``, or ``name.1.ext``, ``name.2.ext``... if it already exists."""
    if not dest.exists() and not dest.with_name(dest.name + ".error.txt").exists():
        return dest
    for n in range(1, 1_000_000):
        candidate = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(dest)  # pragma: no cover


def _move(path: Path, root: Path, folder: str, error: FileError | None = None) -> Path:
    dest = _unique(root / folder / path.relative_to(root))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), dest)
    if error is not None:
        dest.with_name(dest.name + ".error.txt").write_text(f"{error}\n", encoding="utf-8")
    return dest


def _scan(root: Path) -> tuple[list[Path], list[Path]]:
    """(supported files, other files) under ``root``, hidden ones skipped."""
    supported: list[Path] = []
    other: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(current) / name
            (supported if path.suffix.lower() in SUPPORTED_SUFFIXES else other).append(path)
    return supported, other


async def _pause(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def watch(
    directory: str | os.PathLike[str],
    settings: Settings,
    *,
    interval: float = 0.5,
    stop: asyncio.Event | None = None,
    out: TextIO | None = sys.stderr,
    timeout: float = 30.0,
    create_topic: bool = True,
) -> PublishReport:
    """Drop folder: publish every file in ``directory`` (now and later) until stopped.

    A file is read once its size and mtime are unchanged for one ``interval`` (empty
    files for four), so half-written files are not read; writers that can should write
    a hidden ``.name.tmp`` and rename it. Each handled file is moved to ``.published/``
    or to ``.failed/`` with ``NAME.error.txt`` beside it. Runs until ``stop`` is set or
    the task is cancelled; returns the totals.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    report = PublishReport()
    started = time.monotonic()
    producer = await _start_producer(settings, timeout, create_topic)
    _say(out, f"watching {root} (publishing to {ARTICLES} on {settings.broker})")
    observed: dict[Path, tuple[tuple[int, int], int]] = {}
    noted: set[Path] = set()
    try:
        while stop is None or not stop.is_set():
            supported, other = await asyncio.to_thread(_scan, root)
            for path in other:
                if path not in noted:
                    noted.add(path)
                    report.notes.append(f"skipped {path} (not {_SUFFIX_LIST})")
                    _say(out, f"note: {report.notes[-1]}")
            ready: list[Path] = []
            for path in supported:
                try:
                    stat = path.stat()
                except OSError:
                    continue
                signature = (stat.st_size, stat.st_mtime_ns)
                previous, stable = observed.get(path, (None, -1))
                stable = stable + 1 if previous == signature else 0
                observed[path] = (signature, stable)
                if stable >= (1 if stat.st_size else 4):
                    ready.append(path)
            live = set(supported)
            for path in [p for p in observed if p not in live]:
                del observed[path]
            for path in ready:
                del observed[path]
                await _handle(path, root, producer, report, out, settings)
            await _pause(stop, interval)
    finally:
        await producer.stop()
        report.seconds = time.monotonic() - started
    return report


async def _handle(
    path: Path,
    root: Path,
    producer: AIOKafkaProducer,
    report: PublishReport,
    out: TextIO | None,
    settings: Settings,
) -> None:
    """Publish one dropped file and move it to .published/ or .failed/."""
    report.files += 1
    error: FileError | None = None
    delivered: list[Loaded] = []
    try:
        items = await asyncio.to_thread(load_items, path, settings)
    except FileError as err:
        error = err
    else:
        delivered, errors = await send_items(producer, items)
        error = errors.get(str(path))
    report.published += len(delivered)
    report.ids += [item.article.id for item in delivered]
    try:
        if error is not None:
            report.failed_files.append(error)
            dest = _move(path, root, FAILED_DIR, error)
            _say(out, f"error: {error} (moved to {dest})")
        else:
            dest = _move(path, root, PUBLISHED_DIR)
            noun = "article" if len(delivered) == 1 else "articles"
            _say(out, f"published {len(delivered)} {noun} from {path} (moved to {dest})")
    except OSError as exc:
        _say(out, f"warning: could not move {path}: {exc}")
