"""NER quality on CoNLL-2003 and enrichment speed, both through ``analyse()``.

Quality: each CoNLL document is one text (a sentence per line, the way wire copy puts
headline, dateline and paragraphs on their own lines), analysed by the pipeline's own
``analyse()``; every entity mention it returns is compared, as an exact character span,
with the gold spans. Labels compared: gold PER/ORG/LOC against PERSON→PER, ORG→ORG and
GPE/LOC/FAC→LOC; gold MISC and every other predicted label are ignored.

Speed: full ``analyse()`` against raw en_core_web_sm with only its ``ner`` running, on
the same articles, in one process, each timed once after a warm-up.

    python bench/ner_eval.py [--conll ../shared/data/conll2003/dev.txt] [--joiner space]
    python bench/ner_eval.py speed [--bbc ../shared/data/bbc/bbc.dev.jsonl] [--articles 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlp import NlpInput, analyse, build_nlp  # noqa: E402
from nlp.pipeline import DEFAULT_MODEL  # noqa: E402
from training import DATA  # noqa: E402
from training.ner.conll import doc_text, read_conll  # noqa: E402

DEFAULT_CONLL = DATA / "conll2003" / "dev.txt"
DEFAULT_BBC = DATA / "bbc" / "bbc.dev.jsonl"
LABELS = ("PER", "ORG", "LOC")
#: Pipeline label → CoNLL label (labels not here are not scored).
TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC"}
JOINERS = {"line": "\n", "space": " "}

Span = tuple[int, int, str]


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    """Precision, recall and F1 (0.0 when undefined)."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f1": round(f, 4)}


def score(gold: Sequence[set[Span]], predicted: Sequence[set[Span]]) -> dict[str, Any]:
    """Micro and per-label P/R/F1 of exact (start, end, label) matches, document by document."""
    counts = {label: [0, 0, 0] for label in LABELS}  # tp, predicted, gold
    for g, p in zip(gold, predicted, strict=True):
        for label in LABELS:
            gl = {s for s in g if s[2] == label}
            pl = {s for s in p if s[2] == label}
            counts[label][0] += len(gl & pl)
            counts[label][1] += len(pl)
            counts[label][2] += len(gl)
    totals = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {
        "micro": {**prf(*totals), "tp": totals[0], "predicted": totals[1], "gold": totals[2]},
        "per_label": {
            label: {**prf(*c), "tp": c[0], "predicted": c[1], "gold": c[2]}
            for label, c in counts.items()
        },
    }


def evaluate_ner(conll_path: Path | str, nlp: Language, joiner: str = "\n") -> dict[str, Any]:
    """NER micro and per-label P/R/F1 of ``analyse()`` over PER/ORG/LOC on a CoNLL file.

    Returns ``{"micro": {"p", "r", "f1", "tp", "predicted", "gold"}, "per_label": {label:
    {...}}, "documents": n}``.
    """
    texts: list[str] = []
    gold: list[set[Span]] = []
    for doc in read_conll(Path(conll_path)):
        text, spans = doc_text(doc, joiner)
        texts.append(text)
        gold.append({s for s in spans if s[2] in LABELS})
    analyses = analyse([NlpInput(text, 0, "en") for text in texts], nlp)
    predicted: list[set[Span]] = []
    for analysis in analyses:
        found: set[Span] = set()
        for entity in analysis["entities"]:
            label = TO_CONLL.get(entity["label"])
            if label is not None:
                found.update((start, end, label) for start, end in entity["mentions"])
        predicted.append(found)
    return {**score(gold, predicted), "documents": len(texts)}


def bbc_texts(path: Path, limit: int) -> list[str]:
    """Headline and body ("\\n\\n" between them) of the first ``limit`` BBC articles."""
    texts: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if len(texts) >= limit:
                break
            record = json.loads(line)
            texts.append(f"{record['headline']}\n\n{record['body']}")
    return texts


def speed(nlp: Language, texts: Sequence[str], batch_size: int = 16) -> dict[str, float]:
    """Articles per second of full ``analyse()`` and of raw en_core_web_sm NER-only
    (its ``ner`` and nothing else), each timed once after a warm-up, and their ratio."""
    names = spacy.util.get_model_meta(spacy.util.get_package_path(DEFAULT_MODEL))["components"]
    raw = spacy.load(DEFAULT_MODEL, exclude=[n for n in names if n != "ner"])
    inputs = [NlpInput(text, 0, "en") for text in texts]
    warm = min(len(texts), 20)
    list(raw.pipe(texts[:warm], batch_size=batch_size))
    analyse(inputs[:warm], nlp, batch_size=batch_size)

    start = time.perf_counter()
    list(raw.pipe(texts, batch_size=batch_size))
    raw_seconds = time.perf_counter() - start
    start = time.perf_counter()
    analyse(inputs, nlp, batch_size=batch_size)
    full_seconds = time.perf_counter() - start
    return {
        "articles": len(texts),
        "raw_ner_per_s": round(len(texts) / raw_seconds, 2),
        "analyse_per_s": round(len(texts) / full_seconds, 2),
        "ratio": round(raw_seconds / full_seconds, 3),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{'label':<7} {'P':>7} {'R':>7} {'F1':>7} {'gold':>6} {'pred':>6}")
    rows = [*result["per_label"].items(), ("micro", result["micro"])]
    for label, row in rows:
        print(
            f"{label:<7} {row['p']:>7.4f} {row['r']:>7.4f} {row['f1']:>7.4f} "
            f"{row['gold']:>6} {row['predicted']:>6}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("quality", "speed"), default="quality")
    parser.add_argument("--conll", type=Path, default=DEFAULT_CONLL)
    parser.add_argument(
        "--joiner",
        choices=sorted(JOINERS),
        default="line",
        help="what goes between a document's sentences (default: line)",
    )
    parser.add_argument("--bbc", type=Path, default=DEFAULT_BBC)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    nlp = build_nlp()
    if args.mode == "speed":
        result = speed(nlp, bbc_texts(args.bbc, args.articles))
        print(
            json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items())
        )
        return
    result = evaluate_ner(args.conll, nlp, JOINERS[args.joiner])
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.conll} ({result['documents']} documents, sentences joined by {args.joiner!r})"
        )
        print_table(result)


if __name__ == "__main__":
    main()
