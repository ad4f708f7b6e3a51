"""A small multinomial logistic regression over hashed sparse features (numpy only).

Used by the target sentiment model (``nlp/models/sentiment/``) and the topic classifier
(``nlp/models/topics/``). A feature is a string (``"w=strike"``) with a value; it is hashed
with CRC-32 into one of ``2**bits`` rows of the weight matrix, so no vocabulary is stored.
A model on disk is ``weights.npz`` (``W`` float16, ``b`` float32) plus ``meta.json``
(classes, bits and whatever the caller keeps there, e.g. training settings and scores).

A model may also have a :class:`DenseHead`: one hidden ReLU layer over a fixed-width dense
input per row (the target sentiment model feeds it spaCy ``tok2vec`` vectors), whose
output is added to the sparse class scores. Models without one (topics, events) are
unchanged.

Inference only: fitting (:func:`training.linear.fit_softmax` and friends) is in
``training/linear.py``.
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


def feature_indices(names: Iterable[str], count: int, bits: int) -> npt.NDArray[np.int64]:
    """:func:`feature_index` of ``count`` names, in one numpy pass (a hot path)."""
    hashes = np.fromiter((zlib.crc32(name.encode("utf-8")) for name in names), np.int64, count)
    return hashes & ((1 << bits) - 1)


@dataclass
class SparseRows:
    """Feature rows in CSR form: row i is ``indices/values[indptr[i]:indptr[i + 1]]``."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    values: FloatArray

    @classmethod
    def build(cls, rows: Iterable[Features], bits: int) -> SparseRows:
        rows = list(rows)
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(row) for row in rows], out=indptr[1:])
        count = int(indptr[-1])
        return cls(
            indptr,
            feature_indices((name for row in rows for name in row), count, bits),
            np.fromiter((v for row in rows for v in row.values()), np.float32, count),
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


#: Array names of a :class:`DenseHead` in ``weights.npz``.
_HEAD_ARRAYS = ("Hm", "Hs", "H1", "Hb", "H2")


@dataclass
class DenseHead:
    """Class scores from dense inputs ``x`` (n, width): ``relu(((x - mean) * scale) @ hidden_w
    + hidden_b) @ out_w``."""

    mean: FloatArray
    scale: FloatArray
    hidden_w: FloatArray
    hidden_b: FloatArray
    out_w: FloatArray

    @property
    def width(self) -> int:
        return int(self.hidden_w.shape[0])

    def scores(self, dense: FloatArray) -> FloatArray:
        if dense.ndim != 2 or dense.shape[1] != self.width:
            raise ValueError(f"dense input of shape {dense.shape}, expected (n, {self.width})")
        hidden = ((dense - self.mean) * self.scale) @ self.hidden_w + self.hidden_b
        return (np.maximum(hidden, 0.0) @ self.out_w).astype(np.float32)

    def arrays(self) -> dict[str, FloatArray]:
        return dict(
            zip(
                _HEAD_ARRAYS,
                (self.mean, self.scale, self.hidden_w, self.hidden_b, self.out_w),
                strict=True,
            )
        )


@dataclass
class LinearModel:
    """Weights (``2**bits`` × classes), bias and the class names, in column order; and,
    optionally, a dense head whose scores are added (see :class:`DenseHead`)."""

    classes: list[str]
    bits: int
    weights: FloatArray
    bias: FloatArray
    meta: dict[str, Any] = field(default_factory=dict)
    head: DenseHead | None = None

    def proba_many(self, rows: Sequence[Features], dense: FloatArray | None = None) -> FloatArray:
        """Class probabilities (n, classes) for feature rows (and, for a model with a dense
        head, their dense inputs (n, width), required)."""
        if not rows:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        scores = _scores(self.weights, self.bias, SparseRows.build(rows, self.bits))
        if self.head is not None:
            if dense is None or len(dense) != len(rows):
                raise ValueError("this model needs one dense input row per feature row")
            scores = scores + self.head.scores(np.asarray(dense, dtype=np.float32))
        return softmax(scores)

    def proba(self, features: Features) -> dict[str, float]:
        """Class → probability for one feature row (models without a dense head)."""
        if self.head is not None:
            raise ValueError("this model has a dense head: use proba_many(rows, dense)")
        n = len(features)
        indices = feature_indices(features, n, self.bits)
        values = np.fromiter(features.values(), np.float64, n)
        scores = values @ self.weights[indices].astype(np.float64) + self.bias
        scores -= scores.max()
        exp = np.exp(scores)
        probs = exp / exp.sum()
        return {c: float(p) for c, p in zip(self.classes, probs, strict=True)}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {
            "W": self.weights.astype(np.float16),
            "b": self.bias.astype(np.float32),
        }
        if self.head is not None:
            arrays.update({k: v.astype(np.float32) for k, v in self.head.arrays().items()})
        np.savez_compressed(directory / "weights.npz", **arrays)
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
            head = (
                DenseHead(*(data[k].astype(np.float32) for k in _HEAD_ARRAYS))
                if "H1" in data.files
                else None
            )
        classes = [str(c) for c in meta.pop("classes")]
        bits = int(meta.pop("bits"))
        if weights.shape != (1 << bits, len(classes)):
            raise ValueError(f"{directory}: weights shape {weights.shape} does not match meta")
        if head is not None and head.out_w.shape[1] != len(classes):
            raise ValueError(f"{directory}: dense head shape does not match meta")
        return cls(classes, bits, weights, bias, meta, head)
