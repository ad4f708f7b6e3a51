"""Sources: where articles come from before they reach ``wirestream.articles``.

* :mod:`streams.sources.readers` — the table from format name to reader (bytes → articles
  or a per-file error with a reason; no Kafka); :func:`read_bytes` detects the format.
* :mod:`streams.sources.wire` — the wire-format parsers (ninjs, NewsML-G2, RSS, Atom).
* :mod:`streams.sources.publisher` — one publisher for any iterable of articles.
* :mod:`streams.sources.dropfolder` — the drop-folder watcher (``publish --watch``).
"""

from __future__ import annotations

from streams.sources.dropfolder import FAILED_DIR, PUBLISHED_DIR, WatchError, watch
from streams.sources.publisher import (
    PublishReport,
    producer_options,
    publish,
    publish_items,
    send_items,
)
from streams.sources.readers import (
    READERS,
    FileError,
    Format,
    Items,
    Loaded,
    detect,
    find_files,
    load_file,
    load_items,
    parse_items,
    read_bytes,
    register,
    skipped_of,
)

__all__ = [
    "FAILED_DIR",
    "PUBLISHED_DIR",
    "READERS",
    "FileError",
    "Format",
    "Loaded",
    "PublishReport",
    "WatchError",
    "find_files",
    "load_file",
    "load_items",
    "parse_items",
    "producer_options",
    "publish",
    "publish_items",
    "register",
    "send_items",
    "watch",
    "Items",
    "detect",
    "read_bytes",
    "skipped_of",
]
