"""bench.readers runs and reads every document it generates in full."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import readers


def test_the_readers_bench_reads_every_item(tmp_path: Path) -> None:
    out = tmp_path / "readers.json"
    assert readers.main(["--items", "7", "--repeat", "1", "--json", str(out)]) == 0
    rows = {r["document"]: r for r in orjson.loads(out.read_bytes())}
    assert (rows["rss-7-items"]["format"], rows["rss-7-items"]["items"]) == ("rss", 7)
    assert (rows["newsml-message-7-items"]["format"], rows["newsml-message-7-items"]["items"]) == (
        "newsml",
        7,
    )
    assert rows["ninjs-3.3-photo.json"]["items"] == 0  # a picture: skipped
    assert rows["atom.xml"]["items"] == 2
