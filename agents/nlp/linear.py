"""A small multinomial logistic regression over hashed sparse features (numpy only).

Used by the target sentiment model (``models/sentiment/``) and the topic classifier
(``models/topics/``). A feature is a string (``"w=strike"``) with a value; it is hashed
with CRC-32 into one of ``2**bits`` rows of the weight matrix, so no vocabulary is stored.
A model on disk is ``weights.npz`` (``W`` float16, ``b`` float32) plus ``meta.json``
(classes, bits and whatever the caller keeps there, e.g. training settings and scores).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Features = dict[str, float]
FloatArray = npt.NDArray[np.float32]


def feature_index(name: str, bits: int) -> int:
    """The weight row of a feature name (stable across processes and machines)."""
    return zlib.crc32(name.encode("utf-8")) & ((1 << bits) - 1)


@dataclass
class SparseRows:
    """Feature rows in CSR form: row i is ``indices/values[indptr[i]:indptr[i + 1]]``."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    values: FloatArray

    @classmethod
    def build(cls, rows: Iterable[Features], bits: int) -> SparseRows:
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        for row in rows:
            for name, value in row.items():
                indices.append(feature_index(name, bits))
                values.append(value)
            indptr.append(len(indices))
        return cls(
            np.asarray(indptr, dtype=np.int64),
            np.asarray(indices, dtype=np.int64),
            np.asarray(values, dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def take(self, rows: npt.NDArray[np.int64]) -> SparseRows:
        """The given rows, in that order."""
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        take = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        take = take.astype(np.int64)
        return SparseRows(indptr, self.indices[take], self.values[take])


def _scores(weights: FloatArray, bias: FloatArray, rows: SparseRows) -> FloatArray:
    """Raw class scores (n, classes)."""
    n = len(rows)
    contrib = weights[rows.indices] * rows.values[:, None]
    lengths = np.diff(rows.indptr)
    if n and len(contrib) and lengths.min() > 0:
        # Every row has a feature: one segmented sum (much faster than np.add.at).
        return np.add.reduceat(contrib, rows.indptr[:-1], axis=0) + bias
    row_of = np.repeat(np.arange(n), lengths)
    out = np.zeros((n, weights.shape[1]), dtype=np.float32)
    np.add.at(out, row_of, contrib)
    return out + bias


def softmax(scores: FloatArray) -> FloatArray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class LinearModel:
    """Weights (``2**bits`` × classes), bias and the class names, in column order."""

    classes: list[str]
    bits: int
    weights: FloatArray
    bias: FloatArray
    meta: dict[str, Any] = field(default_factory=dict)

    def proba_many(self, rows: Sequence[Features]) -> FloatArray:
        """Class probabilities (n, classes) for feature rows."""
        if not rows:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return softmax(_scores(self.weights, self.bias, SparseRows.build(rows, self.bits)))

    def proba(self, features: Features) -> dict[str, float]:
        """Class → probability for one feature row."""
        mask = (1 << self.bits) - 1
        n = len(features)
        indices = np.fromiter(
            (zlib.crc32(name.encode("utf-8")) & mask for name in features), np.int64, n
        )
        values = np.fromiter(features.values(), np.float64, n)
        scores = values @ self.weights[indices].astype(np.float64) + self.bias
        scores -= scores.max()
        exp = np.exp(scores)
        probs = exp / exp.sum()
        return {c: float(p) for c, p in zip(self.classes, probs, strict=True)}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / "weights.npz",
            W=self.weights.astype(np.float16),
            b=self.bias.astype(np.float32),
        )
        meta = {"classes": self.classes, "bits": self.bits, **self.meta}
        (directory / "meta.json").write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> LinearModel:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        with np.load(directory / "weights.npz") as data:
            weights = data["W"].astype(np.float32)
            bias = data["b"].astype(np.float32)
        classes = [str(c) for c in meta.pop("classes")]
        bits = int(meta.pop("bits"))
        if weights.shape != (1 << bits, len(classes)):
            raise ValueError(f"{directory}: weights shape {weights.shape} does not match meta")
        return cls(classes, bits, weights, bias, meta)


def fit_softmax(
    rows: Sequence[Features],
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    bits: int,
    epochs: int,
    learning_rate: float,
    l2: float,
    seed: int,
    batch_size: int = 32,
    class_weight: dict[str, float] | None = None,
) -> LinearModel:
    """Multinomial logistic regression by minibatch AdaGrad with L2 on the touched rows.

    Deterministic for a given ``seed`` (the shuffling is the only randomness)."""
    rng = np.random.default_rng(seed)
    data = SparseRows.build(rows, bits)
    col = {c: i for i, c in enumerate(classes)}
    y = np.asarray([col[label] for label in labels], dtype=np.int64)
    weight_of = np.asarray([(class_weight or {}).get(c, 1.0) for c in classes], dtype=np.float32)[y]
    n, k = len(y), len(classes)
    weights = np.zeros((1 << bits, k), dtype=np.float32)
    bias = np.zeros(k, dtype=np.float32)
    g2_w = np.full((1 << bits, k), 1e-8, dtype=np.float32)
    g2_b = np.full(k, 1e-8, dtype=np.float32)
    onehot = np.eye(k, dtype=np.float32)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            part = data.take(batch)
            probs = softmax(_scores(weights, bias, part))
            delta = (probs - onehot[y[batch]]) * weight_of[batch, None]
            row_of = np.repeat(np.arange(len(batch)), np.diff(part.indptr))
            touched, inverse = np.unique(part.indices, return_inverse=True)
            grad = np.zeros((len(touched), k), dtype=np.float32)
            np.add.at(grad, inverse, delta[row_of] * part.values[:, None])
            grad /= len(batch)
            grad += l2 * weights[touched]
            g2_w[touched] += grad**2
            weights[touched] -= learning_rate * grad / np.sqrt(g2_w[touched])
            grad_b = delta.mean(axis=0)
            g2_b += grad_b**2
            bias -= learning_rate * grad_b / np.sqrt(g2_b)
    return LinearModel(list(classes), bits, weights, bias)


def fit_from_config(
    rows: Sequence[Features], labels: Sequence[str], classes: Sequence[str], config: dict[str, Any]
) -> LinearModel:
    """:func:`fit_softmax` with its hyper-parameters read from a training config file."""
    return fit_softmax(
        rows,
        labels,
        classes,
        bits=int(config["bits"]),
        epochs=int(config["epochs"]),
        learning_rate=float(config["learning_rate"]),
        l2=float(config["l2"]),
        seed=int(config["seed"]),
        batch_size=int(config["batch_size"]),
        class_weight={k: float(v) for k, v in config.get("class_weight", {}).items()},
    )

