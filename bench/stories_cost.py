"""Cost of the stories library at a given state size (issue 20: at most 3 ms of CPU per
article at 100,000 articles of state; the worker within 600 MB).

    python bench/stories_cost.py [--reuters PATH] [--articles 100000] [--measure 1000] [--json OUT]

Fills a :class:`stories.DuplicateIndex` and a :class:`stories.StoryClusterer` with
``--articles`` articles (Reuters-21578 texts, cycled; every copy after the first has a
fifth of its words replaced at random so that texts stay distinct and the state grows as
with new articles), one per second of stream time (all inside the 7-day window), then
measures the process CPU time of ``--measure`` more articles (near-duplicate lookup +
story assignment, the stage's per-article work) and the state's memory: the arrays' bytes
(``nbytes()``), the process RSS growth while filling, and the snapshot's size (``np.savez``).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stories import DuplicateIndex, StoryClusterer, load_config  # noqa: E402
from training import DATA  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def texts(path: Path, seed: int = 20) -> Iterator[str]:
    base = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("body"):
                base.append(f"{r['title']}\n\n{r['body']}")
    vocab = sorted({w for t in base[:2000] for w in t.split()})
    rng = random.Random(seed)
    round_ = 0
    while True:
        for t in base:
            if round_ == 0:
                yield t
            else:
                words = t.split()
                for _ in range(len(words) // 5):
                    words[rng.randrange(len(words))] = rng.choice(vocab)
                yield " ".join(words)
        round_ += 1


def run(path: Path, articles: int, measure: int) -> dict[str, Any]:
    config = load_config()
    dups, stories = DuplicateIndex(config), StoryClusterer(config)
    source = texts(path)
    before = rss_mb()
    start = time.perf_counter()
    for i in range(articles):
        text = next(source)
        dups.add(f"a{i}", text, float(i))
        stories.add(f"a{i}", text, float(i))
    fill_s = time.perf_counter() - start
    grown = rss_mb() - before
    batch = [next(source) for _ in range(measure)]
    cpu = time.process_time()
    for j, text in enumerate(batch):
        t = float(articles + j)
        dups.add(f"m{j}", text, t)
        stories.add(f"m{j}", text, t)
    per_article_ms = (time.process_time() - cpu) * 1000 / measure
    buf = io.BytesIO()
    arrays: dict[str, Any] = {**dups.state(), **stories.state()}
    np.savez(buf, **arrays)
    return {
        "articles_of_state": articles,
        "measured_articles": measure,
        "cpu_ms_per_article": per_article_ms,
        "state_mb": (dups.nbytes() + stories.nbytes()) / 2**20,
        "duplicates_state_mb": dups.nbytes() / 2**20,
        "stories_state_mb": stories.nbytes() / 2**20,
        "rss_growth_mb": grown,
        "snapshot_mb": buf.tell() / 2**20,
        "stories": stories.live_stories(float(articles + measure)),
        "fill_seconds": fill_s,
        "loadavg": open("/proc/loadavg", encoding="ascii").read().split()[:3],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuters", type=Path, default=DATA / "reuters21578/reuters21578.jsonl")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--measure", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.reuters.exists():
        print(f"error: no such file: {args.reuters}", file=sys.stderr)
        return 1
    result = run(args.reuters, args.articles, args.measure)
    for key, value in result.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<22} {shown}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
