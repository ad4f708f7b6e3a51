"""Readers: a table from format name to reader (:data:`READERS`).

A reader turns one document's bytes into validated articles (:class:`Loaded`), or
raises :class:`FileError` with a reason; it knows nothing about Kafka. The format is
detected by content (:func:`detect`, :func:`read_bytes`); for files the extension breaks
ties (docs/formats.md):

* ``text`` (``.txt``) — the seed format: first non-blank line is the headline; the second
  is the standfirst when the file has at least three non-blank lines and that line does
  not end with terminal punctuation; the remaining lines are the body, joined with
  ``"\\n"``.
* ``json`` (``.json``) — one article object, or a list of them.
* ``jsonl`` (``.jsonl`` / ``.ndjson``) — one article object per non-blank line.
* ``ninjs`` (in ``.json`` files), ``newsml`` (``.xml``, ``.newsml``: NewsML-G2),
  ``rss`` (``.rss``), ``atom`` (``.atom``) — wire formats, :mod:`streams.sources.wire`.
  Items that are not text are skipped, not refused (:attr:`Items.skipped`).
* directories — recursively, in sorted order; hidden files and folders are skipped and
  other extensions are ignored with a note.

Every article goes through :func:`schemas.validation.article_from_dict`, so the id is
derived from headline and body when absent and a re-sent article keeps its Kafka key.
Loading is all-or-nothing per file: a file with any bad article publishes nothing and is
reported as a :class:`FileError`; the other files go on. Only regular files are read
(a FIFO or a device is refused without blocking).

A new format is one line: ``register("csv", (".csv",), read_csv)`` (or an entry in
:data:`READERS`), where ``read_csv(path, raw, max_bytes)`` returns ``list[Loaded]``
(build each with :func:`loaded`) or raises :class:`FileError`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PosixPath
from typing import Any

import orjson

from schemas.records import Article
from schemas.validation import InvalidArticle, article_from_dict, loads_json, parse_article
from streams.codecs import dumps
from streams.settings import Settings, get_settings
from streams.sources.wire import Parsed, WireError, newsml, ninjs, syndication

#: A second line ending with one of these is body text, not a standfirst.
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "\u201d", "\u2019", "'")
_BOM = b"\xef\xbb\xbf"


def shown(path: str | os.PathLike[str]) -> str:
    """A file name as one printable line: as it is when it is printable UTF-8, otherwise
    the ``repr`` of its bytes (names need not be UTF-8 and may hold control characters)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(text))
    return text if text.isprintable() else repr(text)


def file_kind(mode: int) -> str:
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


class Items(list[Loaded]):
    """A reader's articles, plus the items it skipped on purpose (``skipped``: one line
    each, e.g. ``"picture urn:x:1: not text"``): pictures, video, audio and packages
    without text are counted, not published and not errors. A plain list is fine too."""

    def __init__(self, items: Iterable[Loaded] = (), skipped: Iterable[str] = ()) -> None:
        super().__init__(items)
        self.skipped: list[str] = list(skipped)


def skipped_of(items: list[Loaded]) -> list[str]:
    """The skipped-item lines of a reader's result (none for a plain list)."""
    return list(getattr(items, "skipped", ()))


#: path (names the file in errors), the file's bytes (BOM removed, not blank), the
#: article size limit -> the file's validated articles; FileError if any is bad.
Reader = Callable[[Path, bytes, int], list[Loaded]]
#: A document (BOM and leading whitespace removed) -> how surely it is this format: 0
#: not, 1 maybe (a generic shape such as "starts with {"), 2 surely (a format's own
#: marks, e.g. a root element). Sniffers look at the start only (:data:`SNIFF_BYTES`),
#: except JSON Lines, which parses its first line whatever its length.
Sniffer = Callable[[bytes], int]
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Format:
    """A readable format: its name, the file extensions it reads, its reader and how
    to recognise its content (``sniff``; None = only by extension or by name)."""

    name: str
    suffixes: tuple[str, ...]
    read: Reader
    sniff: Sniffer | None = None


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


def loaded(path: Path, where: str, article: Article, max_bytes: int) -> Loaded:
    """One validated article encoded for Kafka; :class:`FileError` (``too_large``) when
    its encoded value is over ``max_bytes``. ``where`` prefixes the reason ("line 3: ")."""
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
    return loaded(path, where, article, max_bytes)


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
    items = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"line {n}: "
        try:
            article = parse_article(line.strip(), max_bytes=max_bytes)
        except InvalidArticle as exc:
            raise FileError(path, f"{where}{exc}", exc.code) from None
        items.append(loaded(path, where, article, max_bytes))
    if not items:
        raise FileError(path, "empty file", "empty")
    return items


def _sniff_text(head: bytes) -> int:
    """Seed text: anything that does not start like JSON or XML."""
    return 0 if head[:1] in (b"{", b"[", b"<") else 1


def _sniff_json(head: bytes) -> int:
    return 1 if head[:1] in (b"{", b"[") else 0


def _sniff_jsonl(document: bytes) -> int:
    """A first line that is a whole JSON object: 1; with another line after it, 2."""
    if document[:1] != b"{":
        return 0
    first, newline, rest = document.partition(b"\n")
    try:
        if not isinstance(orjson.loads(first), dict):
            return 0
    except orjson.JSONDecodeError:
        return 0
    return 2 if newline and rest.strip() else 1


#: Format name -> reader. Files: by content, the extension breaking ties
#: (:func:`detect`); directories list files by extension (:func:`reader_for`).
READERS: dict[str, Format] = {
    "text": Format("text", (".txt",), _read_text, _sniff_text),
    "json": Format("json", (".json",), _read_json, _sniff_json),
    "jsonl": Format("jsonl", (".jsonl", ".ndjson"), _read_jsonl, _sniff_jsonl),
}


def wire_reader(parse: Callable[[bytes], Parsed]) -> Reader:
    """A :data:`Reader` over a wire-format parser (``streams.sources.wire``): every item
    validated (all or nothing), the skipped ones kept in :attr:`Items.skipped`."""

    def read(path: Path, raw: bytes, max_bytes: int) -> list[Loaded]:
        try:
            parsed = parse(raw)
        except WireError as exc:
            raise FileError(path, str(exc), exc.code) from None
        except RecursionError:  # a safety net: the parsers walk trees iteratively
            raise FileError(
                path, "too_deep: the document is nested too deeply", "too_deep"
            ) from None
        return Items(
            (_from_dict(path, where, fields, max_bytes) for where, fields in parsed.items),
            parsed.skipped,
        )

    return read


READERS.update(
    {
        "ninjs": Format("ninjs", (), wire_reader(ninjs.parse), ninjs.sniff),
        "newsml": Format("newsml", (".xml", ".newsml"), wire_reader(newsml.parse), newsml.sniff),
        "rss": Format("rss", (".rss",), wire_reader(syndication.parse_rss), syndication.sniff_rss),
        "atom": Format(
            "atom", (".atom",), wire_reader(syndication.parse_atom), syndication.sniff_atom
        ),
    }
)


def with_version(item: Loaded, version: int, max_bytes: int) -> Loaded:
    """The same article as version ``version`` (validated and encoded again): for
    sources without versions of their own (RSS, Atom), whose poller counts changes."""
    fields = dict(item.article.asdict())
    fields["version"] = version
    fields["provider_subjects"] = list(fields.get("provider_subjects") or ())
    return _from_dict(_Name(item.path), "", fields, max_bytes)


def register(
    name: str, suffixes: Iterable[str], read: Reader, sniff: Sniffer | None = None
) -> Format:
    """Add (or replace) the reader of format ``name`` for files ending in ``suffixes``;
    ``sniff`` recognises its content (see :data:`Sniffer`)."""
    fmt = Format(name, tuple(s.lower() for s in suffixes), read, sniff)
    READERS[name] = fmt
    return fmt


def _content(raw: bytes) -> bytes:
    return raw[len(_BOM) :] if raw.startswith(_BOM) else raw


def detect(raw: bytes, preferred: Format | None = None) -> Format | None:
    """The format of a document, by its content: the highest :data:`Sniffer` score,
    first among equals in table order. None when nothing recognises it. With
    ``preferred`` (a file's extension), another format wins only when it is sure
    (score 2) and ``preferred`` is not: a ``.json`` file holding ``42`` stays JSON (and
    gets JSON's error), one holding ninjs or JSON Lines is read as such."""
    document = _content(raw).lstrip()
    best: Format | None = None
    best_score = 0
    candidates = list(READERS.values())
    if preferred is not None and preferred in candidates:
        candidates.remove(preferred)
        candidates.insert(0, preferred)
    for fmt in candidates:
        score = fmt.sniff(document) if fmt.sniff is not None else 0
        if score > best_score:
            best, best_score = fmt, score
    if preferred is not None and best is not preferred and best_score < 2:
        return preferred
    return best


def format_names() -> str:
    """The format names for messages: "text, json or jsonl"."""
    names = list(READERS)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def read_bytes(
    raw: bytes, *, name: str = "<body>", fmt: str | None = None, max_bytes: int
) -> list[Loaded]:
    """The validated articles of one document (a file's bytes, an HTTP body, a feed):
    its format is ``fmt`` when given (a name in :data:`READERS`), else detected by
    content (:func:`detect`). ``name`` names the document in errors and in each
    :class:`Loaded`. Raises :class:`FileError` (reason and code) when the document or
    any of its articles is bad: all or nothing. The result may be an :class:`Items`
    with the items skipped on purpose (:func:`skipped_of`)."""
    return _read(_Name(name), raw, fmt=fmt, max_bytes=max_bytes)


class _Name(PosixPath):
    """A document's name, kept exactly as given in errors and :attr:`Loaded.path` (a
    ``Path`` would fold the ``//`` of a URL); the readers only print it."""

    _given = ""

    def __new__(cls, name: str) -> _Name:
        self = super().__new__(cls, name or "<body>")
        self._given = name or "<body>"
        return self

    def __str__(self) -> str:
        return self._given

    def __fspath__(self) -> str:
        return self._given


def _read(
    path: Path, raw: bytes, *, fmt: str | None, max_bytes: int, by_suffix: bool = False
) -> list[Loaded]:
    chosen: Format | None
    if fmt is not None:
        chosen = READERS.get(fmt)
        if chosen is None:
            raise FileError(path, f"unknown format {fmt!r} (use {format_names()})", "unsupported")
    else:
        chosen = None
    raw = _content(raw)
    if not raw.strip():
        raise FileError(path, "empty file", "empty")
    if chosen is None:
        by_extension = reader_for(path) if by_suffix else None
        chosen = detect(raw, by_extension) or by_extension
        if chosen is None:
            raise FileError(
                path,
                f"unrecognised content: not {format_names()} (starts with {raw.lstrip()[:20]!r})",
                "unsupported",
            )
    return chosen.read(path, raw, max_bytes)


def supported_suffixes() -> frozenset[str]:
    """Every extension a reader is registered for."""
    return frozenset(s for fmt in READERS.values() for s in fmt.suffixes)


def suffix_list() -> str:
    """The supported extensions for messages: ".txt, .json, .jsonl or .ndjson"."""
    names = [s for fmt in READERS.values() for s in fmt.suffixes]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def reader_for(path: str | os.PathLike[str]) -> Format | None:
    """The format that reads ``path`` (by its extension, case-insensitive), or None."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt in READERS.values() if suffix in fmt.suffixes), None)


def parse_items(
    path: str | os.PathLike[str],
    raw: bytes,
    settings: Settings | None = None,
    fmt: str | None = None,
) -> list[Loaded]:
    """The validated articles of one file's bytes; :class:`FileError` if any is bad.

    The file must have a supported extension; its format is ``fmt`` when given, else
    detected by content (:func:`read_bytes`), the extension's format winning ties (so a
    ``.jsonl`` file of one line stays JSON Lines) and reading what nothing recognises."""
    path = Path(path)
    max_bytes = (settings or get_settings()).max_article_bytes
    if fmt is None and reader_for(path) is None:
        suffix = path.suffix.lower()
        raise FileError(
            path,
            f"unsupported file type {suffix or '(none)'!r} (use {suffix_list()})",
            "unsupported",
        )
    if fmt is None and reader_for(path) is READERS.get("text"):
        fmt = "text"  # seed text has no mark of its own: a .txt file is always text
    return _read(path, raw, fmt=fmt, max_bytes=max_bytes, by_suffix=True)


def read_fd(fd: int) -> bytes:
    """Everything left to read from an open descriptor."""
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
            raise FileError(path, f"{file_kind(mode)}, not a regular file: not read", "not_regular")
        return read_fd(fd)
    except OSError as exc:
        raise FileError(path, f"cannot read: {exc.strerror or exc}", "unreadable") from None
    finally:
        os.close(fd)


def load_items(
    path: str | os.PathLike[str], settings: Settings | None = None, fmt: str | None = None
) -> list[Loaded]:
    """Like :func:`load_file`, keeping each article's encoded value for publishing."""
    path = Path(path)
    if fmt is None and reader_for(path) is None:
        return parse_items(path, b"", settings)  # the unsupported-type error
    return parse_items(path, read_regular(path), settings, fmt)


def load_file(
    path: str | os.PathLike[str], settings: Settings | None = None, fmt: str | None = None
) -> list[Article]:
    """Read and validate every article of one file; :class:`FileError` if any is bad.
    ``fmt`` forces a format (a name in :data:`READERS`) instead of detecting it."""
    return [item.article for item in load_items(path, settings, fmt)]


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
            if reader_for(path) is not None:
                add(path)
            elif notes is not None:
                notes.append(f"skipped {path} (not {suffix_list()})")
    return found
