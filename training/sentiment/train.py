"""Train the target sentiment model on NewsMTSC train and write ``nlp/models/sentiment/``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python -m training.sentiment.train \\
        --data ../shared/data/newsmtsc --out nlp/models/sentiment

Only ``train.jsonl`` is used for fitting; ``devtest_mt.jsonl`` is scored for the record
(``meta.json``) and never trained on. Settings are in ``training/sentiment/config.json``.

The model is sparse features (:func:`nlp.sentiment.target_features`) plus a dense
head over the ``tok2vec`` vectors of the target, its neighbours and its sentence
(:func:`nlp.sentiment.dense_target_features`), computed from docs made by the
pipeline's own base model (:func:`nlp.sentiment.encode`). ``ensemble`` models with
seeds ``seed, seed + 1, ...`` are fitted and averaged into one. ``--cv K`` first prints
the K-fold cross-validated macro-F1 on train (folds by sentence), the figure the settings
were chosen by.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.linear import Features, FloatArray, LinearModel
from nlp.recurrent import Sentence
from nlp.sentiment import (
    DEFAULT_MODEL_DIR,
    ENCODER_MODEL,
    TARGET_CLASSES,
    _encoder,
    dense_target_features,
    kept_tokens,
    sentence_compound,
    sentence_words,
    target_features,
    target_tokens,
    word_valences,
)
from training import model_parser, read_config, save_model
from training.linear import average_models, fit_softmax

CONFIG = Path(__file__).resolve().parent / "config.json"
POLARITY = {2.0: "negative", 4.0: "neutral", 6.0: "positive"}


#: A target: its sentence, first and last character, and label.
Target = tuple[str, int, int, str]


def read_targets(path: Path) -> Iterator[Target]:
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


class Featurised:
    """Sparse rows, dense inputs, gold labels and sentence ids of a file's (or a list's)
    targets; and, for the GRU (``training/sentiment/recurrent.py``), each sentence's tokens
    and each target's word positions."""

    def __init__(self, source: Path | list[Target]) -> None:
        self.rows: list[Features] = []
        self.labels: list[str] = []
        self.sentences: list[int] = []
        self.tokens: list[Sentence] = []
        self.spans: list[tuple[int, int]] = []
        targets = list(read_targets(source)) if isinstance(source, Path) else source
        texts = list(dict.fromkeys(text for text, _, _, _ in targets))
        index = {text: i for i, text in enumerate(texts)}
        docs = list(_encoder(ENCODER_MODEL).pipe(texts, batch_size=64))
        for doc in docs:
            words, _ = sentence_words(doc, 0, len(doc))
            vectors = np.asarray(doc.tensor, dtype=np.float32)[kept_tokens(doc)]
            self.tokens.append(Sentence(vectors, words, word_valences(words)))
        dense: list[FloatArray] = []
        by_text: dict[str, tuple[list[str], dict[int, int], float]] = {}
        for text, start, end, label in targets:
            doc = docs[index[text]]
            if text not in by_text:
                words, position = sentence_words(doc, 0, len(doc))
                by_text[text] = (words, position, sentence_compound(text.strip()))
            words, position, compound = by_text[text]
            first, last = target_tokens(doc, start, end, position)
            self.spans.append((first, last))
            self.rows.append(target_features(words, first, last, compound))
            span = doc.char_span(start, end, alignment_mode="expand")
            assert span is not None  # target_tokens found it
            dense.append(
                dense_target_features(
                    doc.tensor, kept_tokens(doc), [(0, len(doc), span.start, span.end)]
                )[0]
            )
            self.labels.append(label)
            self.sentences.append(index[text])
        self.dense: FloatArray = np.asarray(dense, dtype=np.float32)

    def take(self, idx: npt.NDArray[np.int64]) -> tuple[list[Features], FloatArray, list[str]]:
        return [self.rows[i] for i in idx], self.dense[idx], [self.labels[i] for i in idx]


def train(
    rows: list[Features], dense: FloatArray, labels: list[str], config: dict[str, Any]
) -> LinearModel:
    """``config["ensemble"]`` fits (seeds ``seed``, ``seed + 1``, ...) averaged into one."""
    head = config["dense"]
    fits = [
        fit_softmax(
            rows,
            labels,
            TARGET_CLASSES,
            bits=int(config["bits"]),
            epochs=int(config["epochs"]),
            learning_rate=float(config["learning_rate"]),
            l2=float(config["l2"]),
            seed=int(config["seed"]) + i,
            batch_size=int(config["batch_size"]),
            class_weight={k: float(v) for k, v in config.get("class_weight", {}).items()},
            dense=dense if head.get("enabled", True) else None,
            hidden=int(head["hidden"]),
            dense_learning_rate=float(head["learning_rate"]),
            dense_l2=float(head["l2"]),
            dropout=float(head["dropout"]),
        )
        for i in range(int(config.get("ensemble", 1)))
    ]
    return average_models(fits)


def sentence_folds(sentences: list[int], folds: int) -> npt.NDArray[np.int64]:
    """A fold number per target: whole sentences dealt to folds after a fixed shuffle."""
    ids = np.asarray(sentences)
    order = np.random.default_rng(0).permutation(ids.max() + 1)
    fold_of = np.empty(len(order), dtype=np.int64)
    fold_of[order] = np.arange(len(order)) % folds
    return fold_of[ids]


def out_of_fold(data: Featurised, config: dict[str, Any], folds: int) -> FloatArray:
    """Class probabilities (targets, classes) of each target by the model trained on the
    other folds (:func:`sentence_folds`)."""
    fold = sentence_folds(data.sentences, folds)
    probs = np.zeros((len(data.labels), len(TARGET_CLASSES)), dtype=np.float32)
    for f in range(folds):
        fit_idx, test_idx = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        model = train(*data.take(fit_idx), config)
        rows, dense, _ = data.take(test_idx)
        probs[test_idx] = model.proba_many(rows, dense)
    return probs


def scores(gold: list[str], probs: FloatArray) -> dict[str, float]:
    """Macro-F1 and accuracy of the most probable classes."""
    pred: list[str] = [TARGET_CLASSES[int(i)] for i in probs.argmax(axis=1)]
    right = sum(1 for g, p in zip(gold, pred, strict=True) if g == p)
    return {"macro_f1": macro_f1(gold, pred), "accuracy": right / len(pred)}


def cross_validate(data: Featurised, config: dict[str, Any], folds: int) -> dict[str, float]:
    """Macro-F1 and accuracy of out-of-fold predictions, folds by sentence (fixed seed)."""
    return scores(data.labels, out_of_fold(data, config, folds))


def macro_f1(gold: list[str], pred: list[str]) -> float:
    scores = []
    for c in TARGET_CLASSES:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        scores.append(f1)
    return sum(scores) / len(scores)


def predict(model: LinearModel, rows: list[Features], dense: FloatArray) -> list[str]:
    probs = model.proba_many(rows, dense if model.head is not None else None)
    return [model.classes[int(i)] for i in probs.argmax(axis=1)]


def load_sparse_probabilities(data: Featurised, directory: Path = DEFAULT_MODEL_DIR) -> FloatArray:
    """The committed sparse model's class probabilities for every target of ``data``."""
    model = LinearModel.load(directory)
    return model.proba_many(data.rows, data.dense)


def main(argv: list[str] | None = None) -> int:
    parser = model_parser(__doc__, "sentiment", CONFIG, data="newsmtsc")
    parser.add_argument("--cv", type=int, default=0, help="also print K-fold CV on train")
    args = parser.parse_args(argv)
    config = read_config(args.config, args.set)
    started = time.perf_counter()
    data = Featurised(args.data / "train.jsonl")
    dev = Featurised(args.data / "devtest_mt.jsonl")
    cv: dict[str, float] = {}
    if args.cv > 1:
        cv = cross_validate(data, config, args.cv)
        print(
            f"{args.cv}-fold CV on train: macro-F1 {cv['macro_f1']:.4f}  "
            f"accuracy {cv['accuracy']:.4f}",
            file=sys.stderr,
        )
    model = train(data.rows, data.dense, data.labels, config)
    train_f1 = macro_f1(data.labels, predict(model, data.rows, data.dense))
    dev_f1 = macro_f1(dev.labels, predict(model, dev.rows, dev.dense))
    print(
        f"train macro-F1 {train_f1:.4f}  devtest_mt macro-F1 {dev_f1:.4f}  "
        f"({time.perf_counter() - started:.0f} s)",
        file=sys.stderr,
    )
    model.meta = {
        "config": config,
        "trained_on": "NewsMTSC train.jsonl",
        "train_targets": len(data.labels),
        "devtest_mt_macro_f1": round(dev_f1, 4),
        "dense": {"encoder": f"{ENCODER_MODEL} tok2vec", "width": int(data.dense.shape[1])},
    }
    if cv:
        model.meta[f"cv{args.cv}_train"] = {k: round(v, 4) for k, v in cv.items()}
    save_model(model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
