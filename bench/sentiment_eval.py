"""Target sentiment quality on NewsMTSC (devtest_mt by default).

    PYTHONPATH=. python bench/sentiment_eval.py [--data ../shared/data/newsmtsc/devtest_mt.jsonl]

Every target span gets :func:`nlp.sentiment.target_sentiment` with its sentence as
context; the gold label is its polarity (2 = negative, 4 = neutral, 6 = positive). The
baseline gives each target its sentence's VADER label (compound ≤ -0.05 negative,
≥ 0.05 positive, else neutral).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacy.language import Language

from training import DATA
from training.sentiment.train import read_targets

DEFAULT_PATH = DATA / "newsmtsc" / "devtest_mt.jsonl"
CLASSES = ("negative", "neutral", "positive")


def scores(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    """Macro-F1 over the three classes, accuracy, and precision/recall/F1 per class."""
    per_class: dict[str, dict[str, float]] = {}
    for c in CLASSES:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    right = sum(1 for g, p in zip(gold, pred, strict=True) if g == p)
    return {
        "n": len(gold),
        "macro_f1": round(sum(v["f1"] for v in per_class.values()) / len(CLASSES), 4),
        "accuracy": round(right / len(gold), 4) if gold else 0.0,
        "per_class": per_class,
    }


def read_newsmtsc(path: Path) -> list[tuple[str, list[tuple[int, int]], list[str]]]:
    """(sentence, target spans, gold labels) per sentence, from the training reader."""
    grouped: dict[str, tuple[list[tuple[int, int]], list[str]]] = {}
    for text, start, end, label in read_targets(path):
        spans, labels = grouped.setdefault(text, ([], []))
        spans.append((start, end))
        labels.append(label)
    return [(text, spans, labels) for text, (spans, labels) in grouped.items()]


def evaluate_sentiment(newsmtsc_path: Path, nlp: Language | None = None) -> dict[str, Any]:
    """The model's scores on every target of the file (``nlp``'s tokenizer is used; the
    default is a blank English one, the same rules), plus the VADER sentence baseline."""
    from nlp.sentiment import label_for, sentence_compound, target_sentiment

    gold: list[str] = []
    pred: list[str] = []
    baseline: list[str] = []
    started = time.perf_counter()
    for text, spans, labels in read_newsmtsc(newsmtsc_path):
        gold.extend(labels)
        pred.extend(s["label"] for s in target_sentiment(text, spans, nlp=nlp))
        vader = label_for(sentence_compound(text), -0.05, 0.05)
        baseline.extend(vader for _ in spans)
    elapsed = time.perf_counter() - started
    result = scores(gold, pred)
    result["baseline_vader"] = scores(gold, baseline)
    result["targets_per_s"] = round(len(gold) / elapsed, 1) if elapsed else 0.0
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"{'':<16}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}")
    for c, row in result["per_class"].items():
        print(
            f"{c:<16}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
            f"{row['support']:>10}"
        )
    base = result["baseline_vader"]
    print(
        f"macro-F1 {result['macro_f1']:.4f}  accuracy {result['accuracy']:.4f}  "
        f"(n={result['n']}; VADER sentence baseline: macro-F1 {base['macro_f1']:.4f}, "
        f"accuracy {base['accuracy']:.4f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    result = evaluate_sentiment(args.data)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
