"""Train the event-type model and write ``nlp/models/events/``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python -m training.events.train --data ../shared/data

Data: CASE 2021 Task 2 ``case2021_events/events.dev.tsv`` (the only split there is; the
shipped model is trained on all of it). One example per sentence that has a rule event,
labelled with its snippet's type; features are :func:`nlp.events.sentence_features`
of the rules' events (the component's own code, with the model switched off).

``--cv K`` (default from the config) also prints a K-fold cross-validated estimate: the
folds are stratified by type with a fixed seed, each fold's snippets are classified by
the real decision code (``resolve_primary`` + ``classify_acled``) with a model that never
saw them. The taxonomy's rules were tuned on the odd ids only, so the honest figure is the
cross-validated macro-F1 on the even ids (``cv.heldout_even_ids`` in ``meta.json``).
Settings are in ``training/events/config.json`` (``--set key=JSON`` overrides one).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from nlp.events import (
    EventComponent,
    TypeModel,
    classify_acled,
    resolve_primary,
    sentence_features,
)
from nlp.linear import Features, LinearModel
from nlp.types import Event
from training import model_parser, read_config, save_model, stratified_folds
from training.events.case import Snippet, read_case, score
from training.linear import fit_from_config

CONFIG = Path(__file__).resolve().parent / "config.json"
CASE_FILE = Path("case2021_events") / "events.dev.tsv"


@dataclass
class Example:
    """One snippet, its parsed doc and its rule events (before any model)."""

    snippet: Snippet
    doc: Doc
    events: list[Event]
    rows: list[Features]  # one per sentence with an event


def featurise(snippets: Sequence[Snippet], nlp: Language) -> list[Example]:
    """Parse the snippets with the pipeline and take the rules' events and features."""
    component = nlp.get_pipe("wirestream_events")
    if not isinstance(component, EventComponent):
        raise TypeError("wirestream_events is not an EventComponent")
    out = []
    for snippet, doc in zip(snippets, nlp.pipe(s.text for s in snippets), strict=True):
        events = component.rule_events(doc)
        sents = list(doc.sents)
        by_sentence: dict[int, list[Event]] = {}
        for event in events:
            by_sentence.setdefault(event["sentence"], []).append(event)
        rows = [sentence_features(sents[i], evs) for i, evs in sorted(by_sentence.items())]
        out.append(Example(snippet, doc, events, rows))
    return out


def train(
    examples: Sequence[Example], classes: Sequence[str], config: dict[str, Any]
) -> LinearModel:
    rows: list[Features] = []
    labels: list[str] = []
    for ex in examples:
        rows.extend(ex.rows)
        labels.extend([ex.snippet.label] * len(ex.rows))
    return fit_from_config(rows, labels, classes, config)


def predict(
    examples: Sequence[Example], model: TypeModel | None, component: EventComponent
) -> list[str | None]:
    """Each snippet's type through the component's own decision code."""
    taxonomy = component.taxonomy
    return [
        classify_acled(resolve_primary(ex.doc, ex.events, taxonomy, model), taxonomy)
        for ex in examples
    ]


def folds(examples: Sequence[Example], k: int, seed: int) -> list[int]:
    """A fold number per snippet, stratified by type."""
    return stratified_folds([ex.snippet.label for ex in examples], k, seed)


def halves(examples: Sequence[Example], predicted: Sequence[str | None]) -> dict[str, Any]:
    """Macro-F1 and accuracy on all snippets, the odd ids (rules tuned) and the even ids."""
    out: dict[str, Any] = {}
    for name, keep in (
        ("all", lambda i: True),
        ("tune_odd_ids", lambda i: i % 2 == 1),
        ("heldout_even_ids", lambda i: i % 2 == 0),
    ):
        idx = [j for j, ex in enumerate(examples) if keep(int(ex.snippet.id))]
        s = score([examples[j].snippet.label for j in idx], [predicted[j] for j in idx])
        out[name] = {
            "macro_f1": round(s["macro_f1"], 4),
            "accuracy": round(s["accuracy"], 4),
            "n": s["n"],
        }
    return out


def cross_validate(
    examples: Sequence[Example],
    classes: Sequence[str],
    config: dict[str, Any],
    component: EventComponent,
    k: int,
) -> list[str | None]:
    """Out-of-fold predictions: fold f's snippets by a model trained on the others."""
    fold = folds(examples, k, int(config["seed"]))
    predicted: list[str | None] = [None] * len(examples)
    for f in range(k):
        model = train([ex for i, ex in enumerate(examples) if fold[i] != f], classes, config)
        decide = TypeModel(model, float(config["bonus"]), float(config["min_prob"]))
        test = [i for i in range(len(examples)) if fold[i] == f]
        for i, p in zip(test, predict([examples[i] for i in test], decide, component), strict=True):
            predicted[i] = p
    return predicted


def grid_points(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the config's ``grid`` values (fixed key order)."""
    points: list[dict[str, Any]] = [{}]
    for key in sorted(config.get("grid", {})):
        points = [{**p, key: v} for p in points for v in config["grid"][key]]
    return points


def select(
    examples: Sequence[Example],
    classes: Sequence[str],
    config: dict[str, Any],
    component: EventComponent,
    k: int,
) -> tuple[dict[str, Any], float]:
    """The grid point with the best K-fold macro-F1 on the even ids of ``examples`` (the
    ids the rules were not tuned on), and that F1. Training settings are refitted per
    point; decision settings (bonus, min_prob) reuse the fits."""
    fold = folds(examples, k, int(config["seed"]))
    even = [i for i, ex in enumerate(examples) if int(ex.snippet.id) % 2 == 0]
    decision_keys = {"bonus", "min_prob"}
    points = grid_points(config)
    fits: dict[str, list[LinearModel]] = {}
    best: tuple[float, dict[str, Any]] | None = None
    for point in points:
        settings = {**config, **point}
        fit_key = json.dumps({k2: v for k2, v in point.items() if k2 not in decision_keys})
        if fit_key not in fits:
            fits[fit_key] = [
                train([ex for i, ex in enumerate(examples) if fold[i] != f], classes, settings)
                for f in range(k)
            ]
        predicted: list[str | None] = [None] * len(examples)
        for f, model in enumerate(fits[fit_key]):
            decide = TypeModel(model, float(settings["bonus"]), float(settings["min_prob"]))
            test = [i for i in range(len(examples)) if fold[i] == f]
            for i, p in zip(
                test, predict([examples[i] for i in test], decide, component), strict=True
            ):
                predicted[i] = p
        f1 = score([examples[i].snippet.label for i in even], [predicted[i] for i in even])[
            "macro_f1"
        ]
        if best is None or f1 > best[0] + 1e-9:
            best = (f1, point)
    assert best is not None
    return best[1], best[0]


def nested_cv(
    examples: Sequence[Example],
    classes: Sequence[str],
    config: dict[str, Any],
    component: EventComponent,
    k: int,
) -> tuple[list[str | None], list[dict[str, Any]]]:
    """Out-of-fold predictions where each outer fold's settings are chosen by an inner
    K-1-fold selection on the other folds only (nothing about a test fold is used)."""
    fold = folds(examples, k, int(config["seed"]) + 1)
    predicted: list[str | None] = [None] * len(examples)
    chosen: list[dict[str, Any]] = []
    for f in range(k):
        rest = [ex for i, ex in enumerate(examples) if fold[i] != f]
        point, _ = select(rest, classes, config, component, k - 1)
        chosen.append(point)
        settings = {**config, **point}
        model = train(rest, classes, settings)
        decide = TypeModel(model, float(settings["bonus"]), float(settings["min_prob"]))
        test = [i for i in range(len(examples)) if fold[i] == f]
        for i, p in zip(test, predict([examples[i] for i in test], decide, component), strict=True):
            predicted[i] = p
        print(f"outer fold {f + 1}/{k}: {point}", file=sys.stderr)
    return predicted, chosen


def main(argv: list[str] | None = None) -> int:
    parser = model_parser(__doc__, "events", CONFIG)
    parser.add_argument("--cv", type=int, default=None, help="folds (0: none; default: config)")
    parser.add_argument(
        "--nested", action="store_true", help="also nested CV (settings chosen inside each fold)"
    )
    parser.add_argument(
        "--select", action="store_true", help="choose the grid settings on all of dev first"
    )
    args = parser.parse_args(argv)
    config = read_config(args.config, args.set)
    started = time.perf_counter()
    from nlp import build_nlp

    nlp = build_nlp()
    component = nlp.get_pipe("wirestream_events")
    assert isinstance(component, EventComponent)
    classes = sorted(component.taxonomy.acled_types)
    examples = featurise(read_case(args.data / CASE_FILE), nlp)
    report: dict[str, Any] = {"rules_only": halves(examples, predict(examples, None, component))}
    k = int(config["cv_folds"]) if args.cv is None else args.cv
    if args.nested:
        predicted, chosen = nested_cv(examples, classes, config, component, k)
        report["nested_cv"] = {**halves(examples, predicted), "folds": k, "chosen": chosen}
    if args.select:
        point, f1 = select(examples, classes, config, component, k)
        print(f"selected {point} (CV even-id macro-F1 {f1:.4f})", file=sys.stderr)
        config = {**config, **point}
    if k > 1:
        report["cv"] = halves(examples, cross_validate(examples, classes, config, component, k))
        report["cv"]["folds"] = k
    model = train(examples, classes, config)
    model.meta = {
        "config": config,
        "decision": {"bonus": float(config["bonus"]), "min_prob": float(config["min_prob"])},
        "trained_on": "CASE 2021 Task 2 events.dev.tsv (all snippets)",
        "examples": sum(len(ex.rows) for ex in examples),
        **report,
    }
    print(json.dumps(report, indent=2))
    print(f"trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    save_model(model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
