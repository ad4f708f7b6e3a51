"""CASE 2021 Task 2 snippets (fine-grained event types): reading the TSV and scoring
predictions. Shared by the event-type model's training (training/events/train.py) and
its benchmark (bench/events_eval.py)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Snippet:
    id: str
    text: str
    label: str


def read_case(path: str | Path) -> list[Snippet]:
    """The TSV (``id``, ``EventSnippet``, ``SubType`` with a header row)."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"id", "EventSnippet", "SubType"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        rows = [
            Snippet(row["id"].strip(), row["EventSnippet"].strip(), row["SubType"].strip())
            for row in reader
        ]
    if not rows:
        raise ValueError(f"{path}: no snippets")
    return rows


def score(gold: Sequence[str], predicted: Sequence[str | None]) -> dict[str, Any]:
    """Macro-F1 over the gold types, accuracy, and per-type P/R/F1 (pure function).

    ``None`` predictions are misses (a false negative for the gold type). A predicted type
    that never occurs in the gold labels counts against precision of nothing in the macro
    average but still lowers accuracy. P, R or F1 with an empty denominator is 0.0.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    if not gold:
        raise ValueError("nothing to score")
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        if p == g:
            tp[g] += 1
            continue
        fn[g] += 1
        if p is not None:
            fp[p] += 1
    per_type: dict[str, dict[str, float | int]] = {}
    for label in sorted(set(gold)):
        p_den, r_den = tp[label] + fp[label], tp[label] + fn[label]
        precision = tp[label] / p_den if p_den else 0.0
        recall = tp[label] / r_den if r_den else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_type[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": r_den,
        }
    macro = sum(float(v["f1"]) for v in per_type.values()) / len(per_type)
    correct = sum(tp.values())
    return {
        "macro_f1": macro,
        "accuracy": correct / len(gold),
        "n": len(gold),
        "unpredicted": sum(1 for p in predicted if p is None),
        "per_type": per_type,
    }
