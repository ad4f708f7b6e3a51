"""IPTC topic quality on BBC News and AG News (dev splits), through the real pipeline.

    PYTHONPATH=. python bench/topics_eval.py                 # the shipped model on dev
    PYTHONPATH=. python bench/topics_eval.py --cv 5          # 5-fold cross-validated

A prediction is the article's top topic. BBC: business → economy, entertainment → arts,
politics → politics, sport → sport, tech → science-technology. AG News: 2 Sports → sport,
3 Business → economy, 4 Sci/Tech → science-technology, and 1 World is right when the top
topic is any of politics, conflict, disaster, crime or society.

The shipped classifier is trained on these same dev splits, so its dev accuracy is
in-sample. ``--cv K`` is the honest estimate: K classifiers (``training/topics``), each
trained on the other folds (plus the Reuters examples), score the held-out fold, and
their probabilities are combined with the lexicon evidence exactly as the pipeline does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spacy.language import Language

from nlp.subjects import TopicComponent, assign_topics
from training import DATA

BBC_GOLD = {
    "business": "economy",
    "entertainment": "arts",
    "politics": "politics",
    "sport": "sport",
    "tech": "science-technology",
}
AG_WORLD = frozenset({"politics", "conflict", "disaster", "crime", "society"})
AG_GOLD = {"1": "world", "2": "sport", "3": "economy", "4": "science-technology"}


def bbc_correct(category: str, top: str | None) -> bool:
    return top == BBC_GOLD[category]


def ag_correct(cls: str, top: str | None) -> bool:
    if cls == "1":
        return top in AG_WORLD
    return top == AG_GOLD[cls]


def metrics(
    golds: Sequence[str], tops: Sequence[str | None], correct: Callable[[str, str | None], bool]
) -> dict[str, Any]:
    """Accuracy, macro-F1 over the gold classes (a prediction counts for a class when it is
    right for it) and the confusion table gold → top topic → count."""
    confusion: dict[str, dict[str, int]] = {}
    hits = [correct(g, t) for g, t in zip(golds, tops, strict=True)]
    f1s: dict[str, float] = {}
    for cls in sorted(set(golds)):
        tp = sum(1 for g, h in zip(golds, hits, strict=True) if g == cls and h)
        fn = sum(1 for g, h in zip(golds, hits, strict=True) if g == cls and not h)
        # A false positive for cls: another class's article whose top topic would be right
        # for cls.
        fp = sum(
            1
            for g, t in zip(golds, tops, strict=True)
            if g != cls and correct(cls, t) and not correct(g, t)
        )
        f1s[cls] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    for g, t in zip(golds, tops, strict=True):
        row = confusion.setdefault(g, {})
        row[t or "-"] = row.get(t or "-", 0) + 1
    return {
        "n": len(golds),
        "accuracy": round(sum(hits) / len(hits), 4) if hits else 0.0,
        "macro_f1": round(sum(f1s.values()) / len(f1s), 4) if f1s else 0.0,
        "f1": {k: round(v, 4) for k, v in f1s.items()},
        "confusion": confusion,
    }


def _topic_component(nlp: Language) -> TopicComponent:
    component = nlp.get_pipe("wirestream_subjects")
    if not isinstance(component, TopicComponent):
        raise TypeError("the pipeline's wirestream_subjects is not a TopicComponent")
    return component


def top_slug(
    component: TopicComponent,
    evidence: dict[str, float],
    probabilities: dict[str, float],
    weight: float,
    power: float,
) -> str | None:
    """The top topic the component assigns from lexicon evidence and classifier output."""
    topics = assign_topics(
        component.scores(evidence, probabilities, weight, power),
        component.lexicon,
        relative_threshold=component.relative_threshold,
        max_topics=component.max_topics,
    )
    return topics[0]["slug"] if topics else None


def run_pipeline(
    texts: Sequence[tuple[str, int]],
    nlp: Language,
    probabilities: Sequence[dict[str, float]] | None = None,
    classifier_weight: float | None = None,
) -> list[str | None]:
    """Top topic per (text, headline_chars). With ``probabilities`` (out-of-fold classifier
    output), they replace the pipeline's own classifier in the combination."""
    component = _topic_component(nlp)
    weight = component.classifier_weight if classifier_weight is None else classifier_weight
    docs = []
    for text, chars in texts:
        doc = nlp.make_doc(text)
        doc._.ws_headline_chars = chars
        docs.append(doc)
    tops: list[str | None] = []
    for i, doc in enumerate(nlp.pipe(docs, batch_size=16)):
        if probabilities is None and classifier_weight is None:
            topics = doc._.ws_topics
            tops.append(topics[0]["slug"] if topics else None)
        else:
            evidence = component.evidence(doc)
            probs = probabilities[i] if probabilities is not None else component.probabilities(doc)
            tops.append(top_slug(component, evidence, probs, weight, component.domain_power))
    return tops


def evaluate_topics_bbc(path: Path, nlp: Language) -> dict[str, Any]:
    """The pipeline's top topic against the BBC category, for every article in ``path``."""
    from training.topics.train import read_bbc

    examples = read_bbc(path)
    tops = run_pipeline([(ex.text, ex.headline_chars) for ex in examples], nlp)
    return metrics([ex.gold for ex in examples], tops, bbc_correct)


def evaluate_topics_agnews(path: Path, nlp: Language) -> dict[str, Any]:
    """The pipeline's top topic against the AG News class, for every row in ``path``."""
    from training.topics.train import read_agnews

    examples = read_agnews(path)
    tops = run_pipeline([(ex.text, ex.headline_chars) for ex in examples], nlp)
    return metrics([ex.gold for ex in examples], tops, ag_correct)


def cross_validate(
    data: Path,
    nlp: Language,
    k: int,
    grid: Sequence[tuple[float, float]] | None = None,
    cache: Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """K-fold estimate of both accuracies (see the module docstring), one result per
    (classifier weight, domain power) in ``grid`` (default: the pipeline's settings).
    ``cache`` keeps the lexicon evidence of every article (derived data: put it under
    .cache/; delete it when the lexicon, the taxonomy or the NER change) so that classifier
    settings can be tried without running the pipeline again. ``overrides`` (``key=JSON``)
    change the classifier's training settings, as ``training.topics.train --set`` does."""
    from training import read_config
    from training.topics.train import (
        CONFIG,
        cross_validated_probabilities,
        featurise,
        load_examples,
    )

    config = read_config(CONFIG, overrides)
    dev, extra = load_examples(data, config)
    component = _topic_component(nlp)
    probs = cross_validated_probabilities(dev, extra, config, k)
    if cache is not None and cache.exists():
        evidence = json.loads(cache.read_text(encoding="utf-8"))["evidence"]
        if len(evidence) != len(dev):
            raise ValueError(f"{cache} holds {len(evidence)} articles, not {len(dev)}")
    else:
        evidence = []
        docs = []
        for ex in dev:
            doc = nlp.make_doc(ex.text)
            doc._.ws_headline_chars = ex.headline_chars
            docs.append(doc)
        for doc in nlp.pipe(docs, batch_size=16):
            evidence.append(component.evidence(doc))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"evidence": evidence}), encoding="utf-8")
    out: dict[str, Any] = {}
    if component.classifier is not None:
        # The shipped classifier on the same articles: IN-SAMPLE (it was trained on them).
        shipped = component.classifier.proba_many(featurise(dev))
        in_sample = [
            {c: float(v) for c, v in zip(component.classifier.classes, row, strict=True)}
            for row in shipped
        ]
        out["in_sample"] = score_grid(
            dev,
            evidence,
            in_sample,
            component,
            [(component.classifier_weight, component.domain_power)],
        )
    out.update(
        score_grid(
            dev,
            evidence,
            probs,
            component,
            grid or [(component.classifier_weight, component.domain_power)],
        )
    )
    return out


def score_grid(
    dev: Sequence[Any],
    evidence: Sequence[dict[str, float]],
    probs: Sequence[dict[str, float]],
    component: TopicComponent,
    grid: Sequence[tuple[float, float]],
) -> dict[str, Any]:
    """BBC and AG News metrics of the combined top topic for each setting in ``grid``."""
    out: dict[str, Any] = {}
    for weight, power in grid:
        tops: list[str | None] = []
        for ev, p in zip(evidence, probs, strict=True):
            tops.append(top_slug(component, ev, p, weight, power))
        bbc = [(ex.gold, t) for ex, t in zip(dev, tops, strict=True) if ex.source == "bbc"]
        ag = [(ex.gold, t) for ex, t in zip(dev, tops, strict=True) if ex.source == "ag"]
        out[f"weight={weight} power={power}"] = {
            "bbc": metrics([g for g, _ in bbc], [t for _, t in bbc], bbc_correct),
            "ag_news": metrics([g for g, _ in ag], [t for _, t in ag], ag_correct),
        }
    return out


def print_result(name: str, result: dict[str, Any]) -> None:
    print(
        f"{name:<10} n={result['n']:<5} accuracy {result['accuracy']:.4f}  "
        f"macro-F1 {result['macro_f1']:.4f}"
    )
    for gold, row in sorted(result["confusion"].items()):
        top = sorted(row.items(), key=lambda kv: -kv[1])[:5]
        print(f"    {gold:<14} " + "  ".join(f"{t}:{n}" for t, n in top))


def main(argv: list[str] | None = None) -> int:
    from nlp import build_nlp

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cv", type=int, default=0, help="k-fold cross-validation")
    parser.add_argument(
        "--grid",
        nargs="*",
        default=[],
        help="--cv: settings to score, each WEIGHT:POWER (default: the pipeline's)",
    )
    parser.add_argument("--cache", type=Path, help="--cv: keep/reuse the lexicon evidence here")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--set",
        nargs="*",
        action="extend",
        default=[],
        help="--cv: classifier setting key=JSON (see training)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    nlp = build_nlp()
    results: dict[str, Any]
    if args.cv:
        grid = [(float(w), float(p)) for w, p in (g.split(":") for g in args.grid)]
        results = cross_validate(args.data, nlp, args.cv, grid or None, args.cache, args.set)
        for setting, result in results.get("in_sample", {}).items():
            print(f"shipped model, {setting} (IN-SAMPLE: it was trained on these articles)")
            print_result("BBC", result["bbc"])
            print_result("AG News", result["ag_news"])
        for setting, result in results.items():
            if setting == "in_sample":
                continue
            print(f"{args.cv}-fold cross-validated, {setting}")
            print_result("BBC", result["bbc"])
            print_result("AG News", result["ag_news"])
    else:
        results = {
            "bbc": evaluate_topics_bbc(args.data / "bbc" / "bbc.dev.jsonl", nlp),
            "ag_news": evaluate_topics_agnews(args.data / "ag_news" / "ag_news.dev.csv", nlp),
        }
        print("shipped model on the dev splits (IN-SAMPLE: it was trained on them)")
        print_result("BBC", results["bbc"])
        print_result("AG News", results["ag_news"])
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
