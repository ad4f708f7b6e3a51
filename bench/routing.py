"""Routing cost per article with many routes: the indexed ``Routes.match`` against the
route-by-route ``Routes.match_all``, on real enriched records.

Run from the repository root::

    .venv/bin/python -m bench.routing                       # 10, 1,000 and 10,000 routes
    .venv/bin/python -m bench.routing --routes 10 100000 --json /tmp/routing.json

The records are the seed articles (``seeds/``) enriched once by the pipeline's own code
(``agents.enrich.enrich``; the model load is not timed). The routes are random, seeded,
valid routes (the validation of ``parse_routes`` runs on them), in two mixes (``--mix``,
see :func:`random_routes`): ``broad`` (any condition kind, so many routes match most
articles) and ``watchlist`` (entity names, many selective routes). Each route writes its
own topic. Times are CPU time of this process (the machine is shared: wall time moved
threefold between runs), the median of ``--repeat`` passes over all records, per article.
The table also shows how many topics one article went to on average: every one of them
costs its part of the list, whatever the index. JSON (``--json``, default
in the temp directory): ``{"records": N, "load": the 1-minute load average, "results":
[{"mix", "routes", "indexed_ms", "naive_ms", "speedup", "topics_per_article"}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.routing import Routes, parse_routes, valid_values  # noqa: E402

SOURCES = ("Reuters", "AP", "AFP", "BBC", "Wire", "dpa", "PA", "Xinhua")


def enriched_seeds() -> list[dict[str, Any]]:
    """The seed articles, enriched by the pipeline (one batch, model load not timed)."""
    from agents.enrich import enrich
    from nlp import build_nlp
    from streams.sources import find_files, load_file

    # The 28 top-level seeds (one version per story): seeds/wire/ adds story versions
    # and a kill, which would change the documented figures.
    seeds = ROOT / "seeds"
    articles = [a for path in find_files([seeds]) if path.parent == seeds for a in load_file(path)]
    nlp = build_nlp()
    records = enrich(articles, nlp, Routes(()), max_chars=100_000, batch_size=16)
    for n, record in enumerate(records):
        record["source"] = SOURCES[n % len(SOURCES)]
    return records


def random_routes(
    rng: random.Random, count: int, records: Sequence[dict[str, Any]], mix: str = "broad"
) -> Routes:
    """``count`` random valid routes (see the module doc), through ``parse_routes``.

    ``broad``: one to three conditions of any kind, so routes on "en", PERSON or a
    sentiment threshold alone match most articles. ``watchlist``: each route watches one
    to three entity names from a pool of 5,000 (the records' own names among them), half
    of them also limited to one to three IPTC topics: many routes, each selective.
    """
    names = sorted({e["canonical"] for r in records for e in r["entities"]})
    pools: dict[str, list[str]] = {
        "topics": sorted(valid_values("topics")),
        "tags": sorted(valid_values("tags")),
        "entity_labels": sorted(valid_values("entity_labels")),
        "languages": ["en", "fr", "es", "de", "it", "pt", "nl", "und"],
        "entity_names": [*names, "Nobody Known"],
        "sources": list(SOURCES),
    }
    watched = names + [f"Person {n}" for n in range(5_000 - len(names))]
    raw = []
    for i in range(count):
        when: dict[str, Any] = {}
        if mix == "watchlist":
            when["entity_names"] = rng.sample(watched, rng.randint(1, 3))
            if rng.random() < 0.5:
                when["topics"] = rng.sample(pools["topics"], rng.randint(1, 3))
        else:
            for key in rng.sample([*pools, "sentiment"], rng.randint(1, 3)):
                if key == "sentiment":
                    side = rng.choice(("sentiment_below", "sentiment_above"))
                    when[side] = round(rng.uniform(-0.8, 0.8), 2)
                else:
                    when[key] = rng.sample(pools[key], rng.randint(1, 3))
            if rng.random() < 0.02:
                when["unmatched"] = True
        raw.append({"topic": f"bench.route.{i}", "when": when})
    return parse_routes({"route": raw}, source="bench", app_id="wirestream")


def per_article_ms(
    routes: Routes, records: Sequence[dict[str, Any]], naive: bool, repeat: int
) -> float:
    match = routes.match_all if naive else routes.match
    passes = []
    for _ in range(repeat):
        started = time.process_time()
        for record in records:
            match(record)
        passes.append((time.process_time() - started) / len(records) * 1000)
    return statistics.median(passes)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--routes", type=int, nargs="+", default=[10, 1_000, 10_000])
    p.add_argument("--repeat", type=int, default=5, help="timed passes (median)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--mix", nargs="+", choices=("broad", "watchlist"), default=["broad", "watchlist"]
    )
    p.add_argument(
        "--json", type=Path, default=Path(tempfile.gettempdir()) / "wirestream-bench-routing.json"
    )
    args = p.parse_args(argv)

    records = enriched_seeds()
    results = []
    load = os.getloadavg()[0]
    print(
        f"{len(records)} enriched seed articles; CPU ms of routing per article, median of "
        f"{args.repeat} passes (load average {load:.1f})"
    )
    print(
        f"{'mix':>9}  {'routes':>8}  {'indexed ms':>10}  {'naive ms':>9}  {'speedup':>7}  "
        f"{'topics/article':>14}"
    )
    for mix in args.mix:
        for count in args.routes:
            routes = random_routes(random.Random(args.seed), count, records, mix)
            assert all(routes.match(r) == routes.match_all(r) for r in records)
            indexed = per_article_ms(routes, records, naive=False, repeat=args.repeat)
            naive = per_article_ms(routes, records, naive=True, repeat=max(1, args.repeat // 2))
            fanout = statistics.mean(len(routes.match(r)) - 1 for r in records)
            results.append(
                {
                    "mix": mix,
                    "routes": count,
                    "indexed_ms": round(indexed, 4),
                    "naive_ms": round(naive, 4),
                    "speedup": round(naive / indexed, 1),
                    "topics_per_article": round(fanout, 1),
                }
            )
            print(
                f"{mix:>9}  {count:>8,}  {indexed:>10.3f}  {naive:>9.3f}  "
                f"{naive / indexed:>6.1f}x  {fanout:>14.1f}"
            )
    args.json.write_text(
        json.dumps({"records": len(records), "load": load, "results": results}, indent=2) + "\n"
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
