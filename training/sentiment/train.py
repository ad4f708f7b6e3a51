"""Train the target sentiment model on NewsMTSC train and write ``models/sentiment/``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python -m training.sentiment.train \\
        --data ../shared/data/newsmtsc --out models/sentiment

Only ``train.jsonl`` is used for fitting; ``devtest_mt.jsonl`` is scored for the record
(``meta.json``) and never trained on. Settings are in ``training/sentiment/config.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agents.nlp.linear import Features, LinearModel, fit_from_config
from agents.nlp.sentiment import (
    TARGET_CLASSES,
    _tokenizer,
    sentence_compound,
    sentence_words,
    target_features,
    target_tokens,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).resolve().parent / "config.json"
POLARITY = {2.0: "negative", 4.0: "neutral", 6.0: "positive"}


def read_targets(path: Path) -> Iterator[tuple[str, int, int, str]]:
    """(sentence, from, to, label) for every target of a NewsMTSC JSONL file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record = json.loads(line)
            text = record["sentence_normalized"]
            for target in record["targets"]:
                label = POLARITY[float(target["polarity"])]
                yield text, int(target["from"]), int(target["to"]), label


def featurise(path: Path) -> tuple[list[Features], list[str]]:
    """Feature rows and gold labels for every target in the file."""
    rows: list[Features] = []
    labels: list[str] = []
    tokenizer = _tokenizer()
    cache: dict[str, tuple[Any, list[str], dict[int, int], float]] = {}
    for text, start, end, label in read_targets(path):
        if text not in cache:
            doc = tokenizer.make_doc(text)
            words, position = sentence_words(doc, 0, len(doc))
            cache[text] = (doc, words, position, sentence_compound(text.strip()))
        doc, words, position, compound = cache[text]
        first, last = target_tokens(doc, start, end, position)
        rows.append(target_features(words, first, last, compound))
        labels.append(label)
    return rows, labels


def train(rows: list[Features], labels: list[str], config: dict[str, Any]) -> LinearModel:
    return fit_from_config(rows, labels, TARGET_CLASSES, config)


def macro_f1(gold: list[str], pred: list[str]) -> float:
    scores = []
    for c in TARGET_CLASSES:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        scores.append(f1)
    return sum(scores) / len(scores)


def predict(model: LinearModel, rows: list[Features]) -> list[str]:
    return [model.classes[int(i)] for i in model.proba_many(rows).argmax(axis=1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/newsmtsc")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "sentiment")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--set", nargs="*", default=[], help="override: key=value (JSON)")
    args = parser.parse_args(argv)
    config: dict[str, Any] = json.loads(args.config.read_text(encoding="utf-8"))
    for item in args.set:
        key, value = item.split("=", 1)
        config[key] = json.loads(value)
    started = time.perf_counter()
    rows, labels = featurise(args.data / "train.jsonl")
    dev_rows, dev_labels = featurise(args.data / "devtest_mt.jsonl")
    model = train(rows, labels, config)
    train_f1 = macro_f1(labels, predict(model, rows))
    dev_f1 = macro_f1(dev_labels, predict(model, dev_rows))
    print(
        f"train macro-F1 {train_f1:.4f}  devtest_mt macro-F1 {dev_f1:.4f}  "
        f"({time.perf_counter() - started:.0f} s)",
        file=sys.stderr,
    )
    model.meta = {
        "config": config,
        "trained_on": "NewsMTSC train.jsonl",
        "train_targets": len(labels),
        "devtest_mt_macro_f1": round(dev_f1, 4),
    }
    if args.out.name != "-":
        model.save(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
