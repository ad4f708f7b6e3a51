"""Train the topic classifier and write ``nlp/models/topics/``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python -m training.topics.train \\
        --data ../shared/data --out nlp/models/topics

Training data (dev splits only exist, so the shipped model is trained on all of them; use
``bench/topics_eval.py --cv 5`` for an honest estimate): BBC News dev (business → economy,
entertainment → arts, politics, sport, tech → science-technology), AG News dev (World →
world, Sports → sport, Business → economy, Sci/Tech → science-technology) and a seeded
sample of Reuters-21578 ``lewissplit == "TRAIN"`` articles as extra economy examples.
Settings are in ``training/topics/config.json``.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.linear import Features, LinearModel
from nlp.subjects import WORLD, classifier_words, topic_features
from training import model_parser, read_config, save_model, stratified_folds
from training.linear import fit_from_config

CONFIG = Path(__file__).resolve().parent / "config.json"
CLASSES = ("arts", "economy", "politics", "science-technology", "sport", WORLD)
BBC_CLASS = {
    "business": "economy",
    "entertainment": "arts",
    "politics": "politics",
    "sport": "sport",
    "tech": "science-technology",
}
AG_CLASS = {"1": WORLD, "2": "sport", "3": "economy", "4": "science-technology"}


@dataclass(frozen=True)
class Example:
    """One article: ``text`` is headline + "\\n\\n" + body, as the pipeline sees it."""

    source: str  # "bbc", "ag" or "reuters"
    ident: str
    text: str
    headline_chars: int
    label: str  # classifier class
    gold: str  # the dataset's own category


def article(headline: str, body: str) -> tuple[str, int]:
    headline, body = headline.strip(), body.strip()
    text = "\n\n".join(part for part in (headline, body) if part)
    return text, len(headline)


def read_bbc(path: Path) -> list[Example]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                text, chars = article(r["headline"], r["body"])
                category = r["category"]
                out.append(Example("bbc", r["id"], text, chars, BBC_CLASS[category], category))
    return out


def read_agnews(path: Path) -> list[Example]:
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if len(row) != 3 or row[0] not in AG_CLASS:
                continue
            # AG News escapes line breaks as a backslash.
            text, chars = article(row[1], row[2].replace("\\", " "))
            out.append(Example("ag", f"ag/{i}", text, chars, AG_CLASS[row[0]], row[0]))
    return out


def read_reuters(path: Path, count: int, seed: int) -> list[Example]:
    """A seeded sample of ``count`` Reuters TRAIN articles with a body and a topic."""
    pool = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("lewissplit") == "TRAIN" and r.get("body") and r.get("topics"):
                text, chars = article(r.get("title") or "", r["body"])
                pool.append(Example("reuters", f"reuters/{r['id']}", text, chars, "economy", "-"))
    random.Random(seed).shuffle(pool)
    return pool[:count]


def load_examples(data: Path, config: dict[str, Any]) -> tuple[list[Example], list[Example]]:
    """(BBC + AG dev examples, Reuters examples)."""
    dev = read_bbc(data / "bbc" / "bbc.dev.jsonl") + read_agnews(
        data / "ag_news" / "ag_news.dev.csv"
    )
    extra = read_reuters(
        data / "reuters21578" / "reuters21578.jsonl",
        int(config["reuters_examples"]),
        int(config["seed"]),
    )
    return dev, extra


def featurise(examples: Sequence[Example]) -> list[Features]:
    """The classifier's features, from tokenizer output only (as at run time)."""
    import spacy

    tokenizer = spacy.blank("en")
    rows = []
    for ex in examples:
        words, heads = classifier_words(tokenizer.make_doc(ex.text), ex.headline_chars)
        rows.append(topic_features(words, heads))
    return rows


def train(rows: Sequence[Features], labels: Sequence[str], config: dict[str, Any]) -> LinearModel:
    return fit_from_config(rows, labels, CLASSES, config)


def folds(examples: Sequence[Example], k: int, seed: int) -> list[int]:
    """A fold number per example, stratified by (source, label)."""
    return stratified_folds([(ex.source, ex.label) for ex in examples], k, seed)


def cross_validated_probabilities(
    dev: Sequence[Example],
    extra: Sequence[Example],
    config: dict[str, Any],
    k: int,
) -> list[dict[str, float]]:
    """Out-of-fold classifier probabilities for every dev example (k models, each trained
    on the other k - 1 folds plus the extra examples)."""
    dev_rows, extra_rows = featurise(dev), featurise(extra)
    fold = folds(dev, k, int(config["seed"]))
    out: list[dict[str, float]] = [{} for _ in dev]
    for f in range(k):
        train_idx = [i for i in range(len(dev)) if fold[i] != f]
        test_idx = [i for i in range(len(dev)) if fold[i] == f]
        rows = [dev_rows[i] for i in train_idx] + list(extra_rows)
        labels = [dev[i].label for i in train_idx] + [ex.label for ex in extra]
        model = train(rows, labels, config)
        probs = model.proba_many([dev_rows[i] for i in test_idx])
        for i, p in zip(test_idx, probs, strict=True):
            out[i] = {c: float(v) for c, v in zip(model.classes, p, strict=True)}
        print(f"fold {f + 1}/{k} done", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = model_parser(__doc__, "topics", CONFIG)
    parser.add_argument("--cv", type=int, default=0, help="also print k-fold classifier accuracy")
    args = parser.parse_args(argv)
    config = read_config(args.config, args.set)
    started = time.perf_counter()
    dev, extra = load_examples(args.data, config)
    if args.cv:
        probs = cross_validated_probabilities(dev, extra, config, args.cv)
        for source in ("bbc", "ag"):
            pairs = [(ex, p) for ex, p in zip(dev, probs, strict=True) if ex.source == source]
            right = sum(1 for ex, p in pairs if max(p, key=p.__getitem__) == ex.label)
            print(
                f"{source}: {args.cv}-fold classifier accuracy {right / len(pairs):.4f}",
                file=sys.stderr,
            )
    examples = [*dev, *extra]
    model = train(featurise(examples), [ex.label for ex in examples], config)
    model.meta = {
        "config": config,
        "trained_on": "BBC News dev, AG News dev, Reuters-21578 TRAIN sample",
        "examples": {
            s: sum(1 for ex in examples if ex.source == s) for s in ("bbc", "ag", "reuters")
        },
    }
    print(f"trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    save_model(model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
