"""How fast the wire-format readers turn documents into validated articles.

Reads each sample of ``tests/streams/wire_samples/`` and two generated documents (an RSS
feed of ``--items`` items, a NewsML-G2 newsMessage of ``--items`` NITF items) through
``streams.sources.readers.read_bytes`` (detection, safe XML parsing, HTML to text,
validation, encoding), ``--repeat`` times each, and prints documents and items per
second. No Kafka, no NLP.

    .venv/bin/python -m bench.readers [--items 1000] [--repeat 20] [--json /tmp/r.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.sources.readers import detect, read_bytes  # noqa: E402

SAMPLES = ROOT / "tests" / "streams" / "wire_samples"
PARAGRAPH = (
    "The council said on Tuesday that the new line would open in 2028, connecting the "
    "northern districts to the city centre in under twenty minutes &amp; cutting traffic."
)


def rss_feed(items: int) -> bytes:
    entries = "".join(
        f"<item><title>Story {n} about the new tram line</title>"
        f"<link>https://bench.example/{n}</link><guid>https://bench.example/{n}</guid>"
        f"<pubDate>Thu, 03 Dec 2026 09:30:00 +0100</pubDate>"
        f"<description>&lt;p&gt;{PARAGRAPH}&lt;/p&gt;&lt;p&gt;{PARAGRAPH}&lt;/p&gt;</description>"
        "</item>"
        for n in range(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Bench</title>'
        f"<language>en</language>{entries}</channel></rss>"
    ).encode()


def news_message(items: int) -> bytes:
    body = f"<p>{PARAGRAPH}</p><p>{PARAGRAPH}</p>"
    entries = "".join(
        f'<newsItem guid="urn:bench:{n}" version="1"><itemMeta><itemClass qcode="ninat:text"/>'
        "<versionCreated>2026-12-03T10:00:00Z</versionCreated>"
        '<pubStatus qcode="stat:usable"/></itemMeta><contentMeta>'
        f'<subject qcode="medtop:04000000"/><headline>Story {n}</headline></contentMeta>'
        '<contentSet><inlineXML contenttype="application/nitf+xml">'
        f"<nitf><body><body.content>{body}</body.content></body></nitf>"
        "</inlineXML></contentSet></newsItem>"
        for n in range(items)
    )
    return (
        '<?xml version="1.0"?><newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/">'
        f"<itemSet>{entries}</itemSet></newsMessage>"
    ).encode()


def measure(name: str, raw: bytes, repeat: int) -> dict[str, Any]:
    fmt = detect(raw)
    read_bytes(raw, name=name, max_bytes=1_000_000)  # warm up
    started = time.perf_counter()
    for _ in range(repeat):
        items = read_bytes(raw, name=name, max_bytes=1_000_000)
    seconds = (time.perf_counter() - started) / repeat
    return {
        "document": name,
        "format": fmt.name if fmt else "?",
        "bytes": len(raw),
        "items": len(items),
        "ms_per_document": round(seconds * 1000, 3),
        "items_per_s": round(len(items) / seconds) if items else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000, help="items per generated feed")
    parser.add_argument("--repeat", type=int, default=20, help="reads per document")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    documents = [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.*")) if p.suffix != ".md"]
    documents += [
        (f"rss-{args.items}-items", rss_feed(args.items)),
        (f"newsml-message-{args.items}-items", news_message(args.items)),
    ]
    rows = [measure(name, raw, args.repeat) for name, raw in documents]
    print(f"{'document':34} {'format':7} {'bytes':>9} {'items':>6} {'ms/doc':>9} {'items/s':>9}")
    for r in rows:
        print(
            f"{r['document']:34} {r['format']:7} {r['bytes']:>9,} {r['items']:>6} "
            f"{r['ms_per_document']:>9.3f} {r['items_per_s']:>9,}"
        )
    if args.json:
        args.json.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
