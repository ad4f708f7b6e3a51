"""The drop folder: publish every regular file put in a folder, now and later.

Only settled regular files inside the folder are read (through the reader table,
:mod:`streams.sources.readers`), never through a symbolic link (``O_NOFOLLOW`` at every
step); each handled file is moved to ``.published/`` or to ``.failed/`` with its error
beside it, and a stop (signal or event) lets the file in hand finish.
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
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from aiokafka import AIOKafkaProducer

from streams.settings import Settings
from streams.sources.publisher import PublishReport, _say, _start_producer, send_items
from streams.sources.readers import (
    FileError,
    Loaded,
    file_kind,
    parse_items,
    read_fd,
    reader_for,
    shown,
    suffix_list,
)
from streams.topics import ARTICLES

PUBLISHED_DIR = ".published"
FAILED_DIR = ".failed"
T = TypeVar("T")

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
                supported = reader_for(entry.name) is not None
                found.append(_Entry(parts, "file" if supported else "other", _signature(st)))
            else:
                found.append(_Entry(parts, "special", _signature(st), file_kind(mode)))

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
        raw = read_fd(fd)
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
                self.note(entry.rel, f"skipped {shown_path} (not {suffix_list()})")
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
