"""The sources seam: a reader registered in the table (a trivial CSV reader, here only)
is picked by extension, and its articles go through the one publisher to a real broker."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.validation import article_from_dict, article_id
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.sources import READERS, FileError, Loaded, publish, publish_items
from streams.sources.readers import Format, loaded, suffix_list
from streams.topics import ARTICLES, ensure_topics
from tests.helpers import Record, read_topics


def read_csv(path: Path, raw: bytes, max_bytes: int) -> list[Loaded]:
    """headline,body rows (with a header line): one article per row."""
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    items = []
    for n, row in enumerate(rows, 2):
        if not row.get("headline"):
            raise FileError(path, f"row {n}: empty_headline: no headline", "empty_headline")
        article = article_from_dict({"headline": row["headline"], "body": row["body"]})
        items.append(loaded(path, f"row {n}: ", article, max_bytes))
    return items


@pytest.fixture
def with_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(READERS, "csv", Format("csv", (".csv",), read_csv))


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    with EmbeddedBroker(port=0) as embedded:
        settings = Settings(broker=embedded.url, partitions=2)
        asyncio.run(ensure_topics(settings, [ARTICLES]))
        yield settings


def marked(settings: Settings, marker: str, count: int) -> list[Record]:
    """Records of ``ARTICLES`` whose headline carries ``marker``, once ``count`` are there
    and one more second passed (so an extra one would show up)."""
    seen: list[float] = []

    def mine(records: list[Record]) -> list[Record]:
        return [r for r in records if r.value and marker in r.value.get("headline", "")]

    def until(records: list[Record]) -> bool:
        if not seen and len(mine(records)) >= count:
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] > 1.0

    return mine(asyncio.run(read_topics(settings.bootstrap_servers, [ARTICLES], until=until)))


def test_the_reader_table_names_todays_formats() -> None:
    assert {name: fmt.suffixes for name, fmt in READERS.items()} == {
        "text": (".txt",),
        "json": (".json",),
        "jsonl": (".jsonl", ".ndjson"),
        "ninjs": (),  # in .json files, told apart by content
        "newsml": (".xml", ".newsml"),
        "rss": (".rss",),
        "atom": (".atom",),
    }
    assert suffix_list() == ".txt, .json, .jsonl, .ndjson, .xml, .newsml, .rss or .atom"


@pytest.mark.integration
def test_an_extra_reader_publishes_through_the_publisher(
    with_csv: None, tmp_path: Path, settings: Settings
) -> None:
    m = uuid.uuid4().hex[:8]
    (tmp_path / "feed.csv").write_text(
        f"headline,body\n{m} Talks resume,Delegates met on Monday.\n{m} Rain,It rained.\n"
    )
    (tmp_path / "bad.csv").write_text(f"headline,body\n,{m} no headline\n")
    (tmp_path / "one.txt").write_text(f"{m} Markets rally\nShares rose on Tuesday.\n")
    out = io.StringIO()
    report = asyncio.run(publish([tmp_path], settings, out=out, timeout=10))

    assert suffix_list() == ".txt, .json, .jsonl, .ndjson, .xml, .newsml, .rss, .atom or .csv"
    assert report.published == 3 and report.files == 3 and report.notes == []
    assert [e.code for e in report.failed_files] == ["empty_headline"]
    assert f"error: {tmp_path / 'bad.csv'}: row 2: empty_headline: no headline" in out.getvalue()
    expected = {
        article_id(f"{m} Talks resume", "Delegates met on Monday."): f"{m} Talks resume",
        article_id(f"{m} Rain", "It rained."): f"{m} Rain",
        article_id(f"{m} Markets rally", "Shares rose on Tuesday."): f"{m} Markets rally",
    }
    assert sorted(report.ids) == sorted(expected)
    records = marked(settings, m, 3)
    assert {r.key: r.value["headline"] for r in records} == expected
    assert len(records) == 3


@pytest.mark.integration
def test_publish_items_takes_any_iterable(settings: Settings) -> None:
    """A feed (no files): articles and a per-item error, counted by their source name."""
    m = uuid.uuid4().hex[:8]
    article = article_from_dict({"headline": f"{m} From a feed", "body": "Feed body."})
    items = (
        x
        for x in [
            loaded(Path("feed:1"), "", article, 1_000_000),
            FileError("feed:2", "invalid_json: not valid JSON", "invalid_json"),
        ]
    )
    report = asyncio.run(publish_items(items, settings, out=None, timeout=10))
    assert report.published == 1 and report.files == 2
    assert report.ids == [article.id] and report.errors == ["feed:2: invalid_json: not valid JSON"]
    [record] = marked(settings, m, 1)
    assert record.key == article.id and record.value["body"] == "Feed body."
