"""What geocoding costs: time per article and memory of the gazetteer.

    python -m bench.geo_cost --bbc ../shared/data/bbc/bbc.dev.jsonl --articles 100 [--json OUT]

Runs the pipeline on the BBC articles with ``wirestream_geo`` disabled, then times the
geocoder alone on each resulting doc (first call, which loads the gazetteer, timed
apart), and reads the process's PSS (``/proc/self/smaps_rollup``) before and after the
gazetteer is loaded. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pss_mb() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bbc", type=Path, required=True)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from bench.quality import read_bbc
    from nlp import build_nlp
    from nlp.geodata import load_index

    nlp = build_nlp()
    items = read_bbc(args.bbc, args.articles)
    docs = []
    with nlp.select_pipes(disable=["wirestream_geo"]):
        for text, headline in items:
            doc = nlp.make_doc(text)
            doc._.ws_headline_chars = headline
            docs.append(doc)
        docs = list(nlp.pipe(docs, batch_size=16))
    geocoder = nlp.get_pipe("wirestream_geo")
    before = pss_mb()
    start = time.perf_counter()
    load_index()
    load_ms = (time.perf_counter() - start) * 1000
    after_load = pss_mb()
    geocoder(docs[0])  # warm: aliases, rules
    per_article = []
    for doc in docs:
        start = time.perf_counter()
        geocoder(doc)
        per_article.append((time.perf_counter() - start) * 1000)
    after = pss_mb()
    places = sum(1 for d in docs for g in d._.ws_geo if g is not None)
    result = {
        "articles": len(docs),
        "geocoded_places": places,
        "ms_per_article_mean": statistics.fmean(per_article),
        "ms_per_article_median": statistics.median(per_article),
        "ms_per_article_max": max(per_article),
        "gazetteer_load_ms": load_ms,
        "pss_mb_before": before,
        "pss_mb_after_load": after_load,
        "pss_mb_after": after,
        "pss_mb_added": after - before,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    for key, value in result.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<24} {shown}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
