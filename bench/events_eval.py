"""Event classification quality on CASE 2021 Task 2 (fine-grained event types).

Each snippet goes through the pipeline's own code (``analyse()``), its events are mapped
to ACLED / CASE types with the taxonomy's ``acled`` lists, and one type is picked: the
type of the tag that comes first in the taxonomy's ``acled_order`` list (data, not code),
ties broken by the earliest event (``nlp.events.classify_acled``). A snippet with
no mapped event is a miss (no prediction).

The score is macro-F1 over the types present in the gold labels, plus accuracy and
per-type precision, recall and F1. The taxonomy's rules were tuned by looking only at
the snippets with odd ids; both halves and all of dev are reported.

The event-type model (``nlp/models/events/``) is trained on all of this file, so with it the
pipeline's figures here are in-sample. The honest estimate is then the nested 5-fold
cross-validated macro-F1 on the even ids that training recorded in the model's
``meta.json`` (``honest_macro_f1`` below; see training/events/README.md). Without the
model (``--rules-only``) it is the even-id F1 of the rules.

    PYTHONPATH=. python -m bench.events_eval ../shared/data/case2021_events/events.dev.tsv
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacy.language import Language

from nlp.events import EventComponent, classify_acled, load_taxonomy
from nlp.types import NlpInput
from training.events.case import Snippet, read_case, score

#: Snippets per ``analyse()`` call.
BATCH = 64


def predict(snippets: Sequence[Snippet], nlp: Language) -> list[str | None]:
    """One predicted CASE type (or ``None``) per snippet, via ``analyse()``."""
    from nlp import analyse  # imported late: it loads the model's metadata

    taxonomy = load_taxonomy()
    predicted: list[str | None] = []
    for i in range(0, len(snippets), BATCH):
        batch = snippets[i : i + BATCH]
        results = analyse([NlpInput(s.text, 0, "en") for s in batch], nlp)
        predicted.extend(classify_acled(r["events"], taxonomy) for r in results)
    return predicted


def _is_odd(snippet_id: str) -> bool:
    return snippet_id.isdigit() and int(snippet_id) % 2 == 1


def evaluate_predictions(
    snippets: Sequence[Snippet], predicted: Sequence[str | None]
) -> dict[str, Any]:
    """All of dev, plus the tuning half (odd ids) and the held-out half (even ids)."""
    gold = [s.label for s in snippets]
    result = score(gold, predicted)
    for name, want_odd in (("tune_odd_ids", True), ("heldout_even_ids", False)):
        idx = [i for i, s in enumerate(snippets) if _is_odd(s.id) == want_odd]
        if idx:
            half = score([gold[i] for i in idx], [predicted[i] for i in idx])
            result[name] = {k: half[k] for k in ("macro_f1", "accuracy", "n", "unpredicted")}
    taxonomy = load_taxonomy()
    reachable = {taxonomy.tags[slug].acled[0] for slug in taxonomy.acled_order}
    unreachable = sorted(set(gold) - reachable)
    result["unreachable_types"] = unreachable
    return result


def add_honest_estimate(result: dict[str, Any], nlp: Language) -> dict[str, Any]:
    """``honest_macro_f1``: the model's recorded nested-CV even-id F1 when ``nlp`` uses the
    event-type model, else the rules' even-id F1 (``honest_source`` says which)."""
    component = nlp.get_pipe("wirestream_events") if "wirestream_events" in nlp.pipe_names else None
    type_model = component.type_model if isinstance(component, EventComponent) else None
    if type_model is not None:
        nested = type_model.model.meta.get("nested_cv", {}).get("heldout_even_ids", {})
        result["model_cv"] = {
            k: type_model.model.meta[k] for k in ("nested_cv", "cv") if k in type_model.model.meta
        }
        if isinstance(nested.get("macro_f1"), float):
            result["honest_macro_f1"] = nested["macro_f1"]
            result["honest_source"] = "nlp/models/events meta.json: nested_cv.heldout_even_ids"
        return result
    heldout = result.get("heldout_even_ids")
    if isinstance(heldout, dict):
        result["honest_macro_f1"] = heldout["macro_f1"]
        result["honest_source"] = "rules only: heldout_even_ids"
    return result


def evaluate_events(case_path: str | Path, nlp: Language) -> dict[str, Any]:
    """CASE 2021 Task 2 scores of the pipeline ``nlp`` on the TSV at ``case_path``."""
    snippets = read_case(case_path)
    return add_honest_estimate(evaluate_predictions(snippets, predict(snippets, nlp)), nlp)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", help="CASE 2021 Task 2 TSV (id, EventSnippet, SubType)")
    parser.add_argument("--errors", action="store_true", help="print each wrong prediction")
    parser.add_argument(
        "--rules-only", action="store_true", help="without the event-type model (nlp/models/events)"
    )
    args = parser.parse_args(argv)
    from nlp import build_nlp

    snippets = read_case(args.case)
    nlp = build_nlp()
    if args.rules_only:
        component = nlp.get_pipe("wirestream_events")
        assert isinstance(component, EventComponent)
        component.type_model = None
    predicted = predict(snippets, nlp)
    result = add_honest_estimate(evaluate_predictions(snippets, predicted), nlp)
    if args.errors:
        for s, p in zip(snippets, predicted, strict=True):
            if p != s.label:
                print(f"{s.id}\t{s.label}\t{p}", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
