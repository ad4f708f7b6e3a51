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
reported as a :class:`FileError`; the other files go on. Only regular files are read
(a FIFO or a device is refused without blocking). The drop folder (:func:`watch`) reads
only settled regular files inside its folder and never follows a symbolic link.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import stat
import sys
import time
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

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
T = TypeVar("T")


def shown(path: str | os.PathLike[str]) -> str:
    """A file name as one printable line: as it is when it is printable UTF-8, otherwise
    the ``repr`` of its bytes (names need not be UTF-8 and may hold control characters)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(text))
    return text if text.isprintable() else repr(text)


def _file_kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


class FileError(Exception):
    """A file that publishes nothing, and why. ``str()`` is ``"PATH: REASON"``."""

    def __init__(self, path: str | os.PathLike[str], reason: str, code: str = "invalid") -> None:
        self.path = str(path)
        self.reason = reason
        self.code = code
        super().__init__(f"{shown(self.path)}: {reason}")

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


def parse_items(
    path: str | os.PathLike[str], raw: bytes, settings: Settings | None = None
) -> list[Loaded]:
    """The validated articles of one file's bytes (``path`` chooses the reader and names
    the file in errors); :class:`FileError` if any is bad."""
    path = Path(path)
    max_bytes = (settings or get_settings()).max_article_bytes
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise FileError(
            path,
            f"unsupported file type {suffix or '(none)'!r} (use {_SUFFIX_LIST})",
            "unsupported",
        )
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw.strip():
        raise FileError(path, "empty file", "empty")
    if suffix in TEXT_SUFFIXES:
        return _read_text(path, raw, max_bytes)
    if suffix in JSON_SUFFIXES:
        return _read_json(path, raw, max_bytes)
    return _read_jsonl(path, raw, max_bytes)


def _read_fd(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file; :class:`FileError` for anything else. The file is
    opened non-blocking and checked on the open descriptor, so a FIFO or a device never
    blocks the reader (``publish DIR`` with a FIFO in it would otherwise hang)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FileError(path, f"cannot read: {exc.strerror or exc}", "unreadable") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise FileError(path, "is a directory", "unreadable")
        if not stat.S_ISREG(mode):
            raise FileError(
                path, f"{_file_kind(mode)}, not a regular file: not read", "not_regular"
            )
        return _read_fd(fd)
    except OSError as exc:
        raise FileError(path, f"cannot read: {exc.strerror or exc}", "unreadable") from None
    finally:
        os.close(fd)


def load_items(path: str | os.PathLike[str], settings: Settings | None = None) -> list[Loaded]:
    """Like :func:`load_file`, keeping each article's encoded value for publishing."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return parse_items(path, b"", settings)  # the unsupported-type error
    return parse_items(path, read_regular(path), settings)


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
#: Opening a directory or a file of the drop folder never follows a symbolic link, and a
#: file is opened non-blocking so that a FIFO or a device cannot hang the watcher.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_ERROR_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: Deeper folders are not watched (noted once).
MAX_DEPTH = 32
#: Seconds a stopping watcher lets the file in hand finish before cancelling it (the file
#: then stays in the folder and is published again by the next run).
STOP_GRACE = 5.0

#: (device, inode, size, mtime_ns, ctime_ns): a file is complete when this stays the same.
Signature = tuple[int, int, int, int, int]
Rel = tuple[str, ...]


class WatchError(Exception):
    """The drop folder itself cannot be used safely (one line: the path and why)."""


class _Changed(Exception):
    """The file is not the one that settled (written to, replaced or swapped): not read."""


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class _Entry:
    """One name found by a scan, relative to the drop folder."""

    rel: Rel
    kind: str  # "file" | "other" (unsupported type) | "symlink" | "special" | "error"
    signature: Signature | None = None
    detail: str = ""


def _open_dir(parent: int, name: str, create: bool = False) -> int:
    """A real directory ``name`` in the directory ``parent`` (created if asked), never
    through a symbolic link: :class:`NotADirectoryError` if ``name`` is not one."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotADirectoryError(exc.errno, "not a real directory (a symbolic link?)") from None
        raise


@contextlib.contextmanager
def _dir_of(root: int, parts: Sequence[str], create: bool = False) -> Iterator[int]:
    """A descriptor of the directory ``root/parts...``, every step opened without
    following symbolic links, so whatever is done through it stays inside ``root``."""
    fds: list[int] = []
    try:
        current = root
        for part in parts:
            current = _open_dir(current, part, create)
            fds.append(current)
        yield current
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _scan(root: int) -> list[_Entry]:
    """Every visible name under the drop folder, classified from ``lstat`` (nothing is
    opened but directories, and those without following links). Hidden names (a leading
    dot: ``.published``, ``.failed``, writers' temporary files) are skipped."""
    found: list[_Entry] = []

    def walk(fd: int, rel: Rel) -> None:
        try:
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            found.append(_Entry(rel, "error", detail=f"cannot list: {exc.strerror or exc}"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            parts = (*rel, entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                found.append(_Entry(parts, "error", detail=f"cannot stat: {exc.strerror or exc}"))
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                found.append(_Entry(parts, "symlink"))
            elif stat.S_ISDIR(mode):
                if len(parts) > MAX_DEPTH:
                    found.append(_Entry(parts, "error", detail=f"over {MAX_DEPTH} folders deep"))
                    continue
                try:
                    sub = _open_dir(fd, entry.name)
                except FileNotFoundError:
                    continue
                except NotADirectoryError:
                    continue  # swapped since the scan saw it: the next scan looks again
                except OSError as exc:
                    found.append(_Entry(parts, "error", detail=f"cannot open: {exc.strerror}"))
                    continue
                try:
                    walk(sub, parts)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(mode):
                supported = Path(entry.name).suffix.lower() in SUPPORTED_SUFFIXES
                found.append(_Entry(parts, "file" if supported else "other", _signature(st)))
            else:
                found.append(_Entry(parts, "special", _signature(st), _file_kind(mode)))

    walk(root, ())
    return found


def _read_settled(root: int, rel: Rel, settled: Signature) -> bytes:
    """The bytes of the file at ``rel`` if it is still the regular file that settled with
    ``settled`` and did not change while it was read; :class:`_Changed` otherwise."""
    try:
        with _dir_of(root, rel[:-1]) as parent:
            fd = os.open(rel[-1], _FILE_FLAGS, dir_fd=parent)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise _Changed("gone") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Changed("now a symbolic link") from None
        raise
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or _signature(before) != settled:
            raise _Changed("changed since it settled")
        raw = _read_fd(fd)
        if _signature(os.fstat(fd)) != settled:
            raise _Changed("changed while it was read")
        return raw
    finally:
        os.close(fd)


def _lexists(name: str, dir_fd: int) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def _move(
    root: int, rel: Rel, folder: str, error: str | None = None, expect: Signature | None = None
) -> Rel:
    """Move ``rel`` (the name itself: a symbolic link is moved, never followed) to
    ``folder/rel`` inside the drop folder, as ``name.N.ext`` if taken, with
    ``NAME.error.txt`` (UTF-8) beside it when ``error`` is given; returns where it went.
    With ``expect``, a file that is no longer that one is left alone (:class:`_Changed`).
    Every step goes through directory descriptors opened without following links, so
    nothing is read or written outside the drop folder."""
    with _dir_of(root, rel[:-1]) as source, _dir_of(root, (folder, *rel[:-1]), True) as dest:
        name = rel[-1]
        if expect is not None:
            try:
                current = _signature(os.lstat(name, dir_fd=source))
            except FileNotFoundError:
                raise _Changed("gone") from None
            if current != expect:
                raise _Changed("changed after it was read")
        stem, suffix = os.path.splitext(name)
        target = name
        for n in range(1, 1_000_000):
            if not _lexists(target, dest) and not _lexists(target + ".error.txt", dest):
                break
            target = f"{stem}.{n}{suffix}"
        os.rename(name, target, src_dir_fd=source, dst_dir_fd=dest)
        if error is not None:
            fd = os.open(target + ".error.txt", _ERROR_FLAGS, 0o644, dir_fd=dest)
            try:
                os.write(fd, f"{error}\n".encode("utf-8", "backslashreplace"))
            finally:
                os.close(fd)
    return (folder, *rel[:-1], target)


def _prepare(directory: Path) -> int:
    """A descriptor of the drop folder, with real ``.published`` and ``.failed``
    directories in it (created if missing); :class:`WatchError` otherwise."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise WatchError(f"{shown(directory)}: cannot watch: {exc.strerror or exc}") from None
    try:
        for folder in (PUBLISHED_DIR, FAILED_DIR):
            try:
                os.close(_open_dir(root, folder, create=True))
            except NotADirectoryError:
                raise WatchError(
                    f"{shown(directory / folder)} is not a real directory (a symbolic link or "
                    "a file): the watcher will not follow it; remove it and start again"
                ) from None
            except OSError as exc:
                raise WatchError(
                    f"{shown(directory / folder)}: cannot create: {exc.strerror or exc}"
                ) from None
    except BaseException:
        os.close(root)
        raise
    return root


async def _until_stopped(
    work: Coroutine[Any, Any, T], stop: asyncio.Event, grace: float = 0.0
) -> T | None:
    """``work``'s result, or None if ``stop`` is set first and ``work`` does not finish
    within ``grace`` seconds after it (it is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and grace > 0:
            await asyncio.wait({task}, timeout=grace)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()


async def _pause(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class _Watcher:
    """The drop folder's state between scans."""

    directory: Path
    root: int
    settings: Settings
    producer: AIOKafkaProducer
    report: PublishReport
    out: TextIO | None
    #: Files not yet settled: the signature last seen and since when (monotonic).
    pending: dict[Rel, tuple[Signature, float]] = field(default_factory=dict)
    #: Files handled but left in place (could not be moved): not handled again unchanged.
    done: dict[Rel, Signature | None] = field(default_factory=dict)
    noted: set[tuple[Rel, str]] = field(default_factory=set)

    def path(self, rel: Rel) -> Path:
        return self.directory.joinpath(*rel)

    def note(self, rel: Rel, message: str) -> None:
        if (rel, message) not in self.noted:
            self.noted.add((rel, message))
            self.report.notes.append(message)
            _say(self.out, f"note: {message}")

    async def scan_once(self, stop: asyncio.Event) -> None:
        """One pass: classify what is there, handle symbolic links and settled files."""
        entries = await asyncio.to_thread(_scan, self.root)
        now = time.monotonic()
        ready: list[tuple[Rel, Signature]] = []
        for entry in entries:
            shown_path = shown(self.path(entry.rel))
            if entry.kind == "other":
                self.note(entry.rel, f"skipped {shown_path} (not {_SUFFIX_LIST})")
            elif entry.kind == "special":
                self.note(entry.rel, f"skipped {shown_path}: {entry.detail}, not a regular file")
            elif entry.kind == "error":
                self.note(entry.rel, f"skipped {shown_path}: {entry.detail}")
            elif entry.kind == "symlink":
                if self.done.get(entry.rel, ()) is not None:
                    self.refuse_link(entry.rel)
            elif entry.signature is not None:
                if self.done.get(entry.rel, ()) == entry.signature:
                    continue
                self.done.pop(entry.rel, None)
                seen, since = self.pending.get(entry.rel, (None, now))
                if seen != entry.signature:
                    since = now
                self.pending[entry.rel] = (entry.signature, since)
                if now - since >= self.settings.watch_settle:
                    ready.append((entry.rel, entry.signature))
        files = {e.rel for e in entries if e.kind == "file"}
        for rel in [r for r in self.pending if r not in files]:
            del self.pending[rel]
        present = {e.rel for e in entries}
        for rel in [r for r in self.done if r not in present]:
            del self.done[rel]
        self.noted = {(rel, note) for rel, note in self.noted if rel in present}
        for rel, signature in ready:
            if stop.is_set():
                return
            del self.pending[rel]
            try:
                await self.handle(rel, signature)
            except Exception as exc:  # noqa: BLE001 - one file never stops the watcher
                self.done[rel] = signature
                _say(self.out, f"error: {shown(self.path(rel))}: {type(exc).__name__}: {exc}")

    def refuse_link(self, rel: Rel) -> None:
        """A symbolic link: moved (the link itself) to .failed/, never read."""
        error = FileError(
            self.path(rel),
            "symlink: a symbolic link; the drop folder publishes regular files only and "
            "did not read it",
            "symlink",
        )
        self.report.files += 1
        self.report.failed_files.append(error)
        self.finish(rel, None, FAILED_DIR, error)

    def finish(
        self, rel: Rel, signature: Signature | None, folder: str, error: FileError | None
    ) -> Rel | None:
        """Move a handled file to ``folder``; a file that cannot be moved stays (and is
        not handled again until it changes)."""
        text = None if error is None else str(error)
        try:
            dest = _move(self.root, rel, folder, text, signature)
        except _Changed as exc:
            _say(self.out, f"note: {shown(self.path(rel))} {exc}: left for the next scan")
            return None
        except OSError as exc:
            self.done[rel] = signature
            where = shown(self.directory / folder)
            reason = exc.strerror or str(exc)
            if isinstance(exc, NotADirectoryError):
                reason = f"{where} (or a folder in it) is not a real directory"
            message = f"{error}; " if error is not None else ""
            _say(self.out, f"error: {message}could not move {shown(self.path(rel))}: {reason}")
            return None
        if error is not None:
            _say(self.out, f"error: {error} (moved to {shown(self.path(dest))})")
        return dest

    async def handle(self, rel: Rel, signature: Signature) -> None:
        """Publish one settled file and move it to .published/ or .failed/."""
        path = self.path(rel)
        error: FileError | None = None
        raw: bytes | None = None
        try:
            raw = await asyncio.to_thread(_read_settled, self.root, rel, signature)
        except _Changed as exc:
            _say(self.out, f"note: {shown(path)} {exc}: it will be read once it settles")
            return
        except OSError as exc:
            error = FileError(path, f"cannot read: {exc.strerror or exc}", "unreadable")
        self.report.files += 1
        delivered: list[Loaded] = []
        if raw is not None:
            try:
                items = await asyncio.to_thread(parse_items, path, raw, self.settings)
            except FileError as err:
                error = err
            else:
                delivered, errors = await send_items(self.producer, items)
                error = errors.get(str(path))
        self.report.published += len(delivered)
        self.report.ids += [item.article.id for item in delivered]
        if error is not None:
            self.report.failed_files.append(error)
            self.finish(rel, signature, FAILED_DIR, error)
            return
        dest = self.finish(rel, signature, PUBLISHED_DIR, None)
        noun = "article" if len(delivered) == 1 else "articles"
        where = f" (moved to {shown(self.path(dest))})" if dest else ""
        _say(self.out, f"published {len(delivered)} {noun} from {shown(path)}{where}")


async def watch(
    directory: str | os.PathLike[str],
    settings: Settings,
    *,
    interval: float = 0.5,
    stop: asyncio.Event | None = None,
    out: TextIO | None = sys.stderr,
    timeout: float = 30.0,
    create_topic: bool = True,
    signals: bool = False,
) -> PublishReport:
    """Drop folder: publish every regular file in ``directory`` (now and later) until
    stopped.

    Only regular files inside the folder are read: symbolic links are moved (the link
    itself) to ``.failed/`` unread, FIFOs, sockets and devices are skipped with a note,
    and nothing is ever opened through a link. A file is read once its size, mtime and
    inode stayed the same for ``settings.watch_settle`` seconds (checked every
    ``interval``) and not if it changes while read; writers should write a dot-file (or
    into a hidden folder such as ``DIR/.tmp/``) and rename it in, like Maildir. Each
    handled file is moved to ``.published/`` or to ``.failed/`` with ``NAME.error.txt``;
    a file written again after that is a new file. :class:`WatchError` if ``.published``
    or ``.failed`` is not a real directory. Runs until ``stop`` is set (with
    ``signals``, also by SIGINT or SIGTERM; a second signal acts as usual) or the task is
    cancelled; returns the totals.
    """
    directory = Path(directory)
    stop = stop or asyncio.Event()
    report = PublishReport()
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def on_signal() -> None:
        stop.set()
        for sig in handled:
            loop.remove_signal_handler(sig)

    if signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
            handled.append(sig)
    root = _prepare(directory)
    try:
        producer = await _until_stopped(_start_producer(settings, timeout, create_topic), stop)
        if producer is None:
            return report
        _say(out, f"watching {shown(directory)} (publishing to {ARTICLES} on {settings.broker})")
        watcher = _Watcher(directory, root, settings, producer, report, out)

        async def run() -> None:
            while not stop.is_set():
                try:
                    await watcher.scan_once(stop)
                except Exception as exc:  # noqa: BLE001 - e.g. the folder went away for a while
                    _say(out, f"error: {shown(directory)}: {type(exc).__name__}: {exc}")
                await _pause(stop, interval)

        try:
            await _until_stopped(run(), stop, grace=STOP_GRACE)
        finally:
            await asyncio.wait_for(producer.stop(), STOP_GRACE)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        os.close(root)
        report.seconds = time.monotonic() - started
    return report
