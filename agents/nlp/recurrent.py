"""A bidirectional GRU that reads a sentence towards one target mention (numpy inference).

The second half of the target sentiment model (``models/sentiment/recurrent.*``, trained
with PyTorch by ``training/sentiment/recurrent.py``). Each token of the target's sentence
is fed as: its ``tok2vec`` vector (standardised), a hashed word embedding, the VADER
valence of the word, an embedding of its distance to the target (:func:`position_buckets`)
and a flag for the target's own tokens. A GRU runs over the tokens each way; the target's
states (mean), an attention over all states keyed by them, and the states' maximum give
the class scores. The sentiment component mixes its class probabilities with the sparse
model's (:meth:`RecurrentModel.mix`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
#: Distance buckets: 0 = the target, ±1..±5 one each, ±6..10, ±11..20, beyond.
POSITION_BUCKETS = 17
#: Targets run through the GRU together (sorted by sentence length).
CHUNK = 64
#: Array names in ``recurrent.npz``.
ARRAYS = (
    "mean",
    "scale",
    "words",
    "positions",
    "fwd_ih",
    "fwd_hh",
    "fwd_bih",
    "fwd_bhh",
    "bwd_ih",
    "bwd_hh",
    "bwd_bih",
    "bwd_bhh",
    "att_w",
    "att_b",
    "out_w",
    "out_b",
)


class Sentence(NamedTuple):
    """One sentence's non-whitespace tokens: ``tok2vec`` vectors (n, width), feature words
    (as :func:`agents.nlp.sentiment.sentence_words` makes them) and VADER valences / 4."""

    vectors: FloatArray
    words: Sequence[str]
    valences: FloatArray


def position_buckets(n: int, start: int, end: int) -> npt.NDArray[np.int64]:
    """The distance bucket (0..16, 8 = inside the target) of each of ``n`` tokens to the
    target ``[start, end)``."""
    i = np.arange(n)
    distance = np.where(i < start, i - start, np.where(i >= end, i - end + 1, 0))
    size = np.abs(distance)
    bucket = np.where(size <= 5, size, np.where(size <= 10, 6, np.where(size <= 20, 7, 8)))
    return (np.sign(distance) * bucket + 8).astype(np.int64)


def word_ids(words: Sequence[str], bits: int) -> npt.NDArray[np.int64]:
    """Hashed embedding rows of the words (CRC-32, as the training script hashes them)."""
    mask = (1 << bits) - 1
    return np.fromiter(
        (zlib.crc32(w.encode("utf-8")) & mask for w in words), np.int64, count=len(words)
    )


def mix_probabilities(sparse: FloatArray, gru: FloatArray, weight: float) -> FloatArray:
    """``softmax((1 - weight) log sparse + weight log gru)``, row by row."""
    logits = (1.0 - weight) * np.log(sparse + 1e-9) + weight * np.log(gru + 1e-9)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class RecurrentModel:
    """The GRU's weights (PyTorch layout: gates r, z, n) and settings (``meta``)."""

    arrays: dict[str, FloatArray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def bits(self) -> int:
        return int(self.meta["bits"])

    @property
    def weight(self) -> float:
        """The GRU's share in the mix with the sparse model (log-linear)."""
        return float(self.meta["mix"])

    def encode(self, sentence: Sentence) -> FloatArray:
        """The columns of a sentence's input rows that do not depend on the target
        (n, width + 1 + word dim): standardised vectors, valences, word embeddings. Shared
        by all targets in the sentence (see :meth:`target_rows`)."""
        a = self.arrays
        n = len(sentence.words)
        if sentence.vectors.shape[0] != n or len(sentence.valences) != n:
            raise ValueError(f"{sentence.vectors.shape[0]} vectors for {n} words")
        return np.concatenate(
            [
                (sentence.vectors - a["mean"]) * a["scale"],
                np.asarray(sentence.valences, dtype=np.float32)[:, None],
                a["words"][word_ids(sentence.words, self.bits)],
            ],
            axis=1,
        ).astype(np.float32)

    def target_rows(self, encoded: FloatArray, start: int, end: int) -> FloatArray:
        """Per-token input rows (n, input width) for the target ``[start, end)`` of a
        sentence :meth:`encode` made: vectors, valence, distance embedding, target flag,
        word embedding (the order the GRU was trained with)."""
        n = len(encoded)
        split = len(self.arrays["mean"]) + 1  # vectors and valence | word embedding
        inside = np.zeros((n, 1), dtype=np.float32)
        inside[start:end] = 1.0
        positions = self.arrays["positions"][position_buckets(n, start, end)]
        return np.concatenate(
            [encoded[:, :split], positions, inside, encoded[:, split:]], axis=1
        ).astype(np.float32)

    def inputs(self, sentence: Sentence, start: int, end: int) -> FloatArray:
        """Per-token input rows for one target (:meth:`encode` then :meth:`target_rows`)."""
        return self.target_rows(self.encode(sentence), start, end)

    def _states(self, x: FloatArray, lengths: npt.NDArray[np.int64]) -> FloatArray:
        """Forward and backward GRU states (m, T, 2H) over inputs ``x`` (m, T, in) padded
        at the end; row i has ``lengths[i]`` real steps. Each row is reversed within its
        length for the backward GRU, so both run in one loop with no masking (states past
        a row's end are never read)."""
        a = self.arrays
        m, steps, _ = x.shape
        t = np.arange(steps)
        flip = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # an involution
        rows = np.arange(m)[:, None]
        inputs = np.stack([x, x[rows, flip]])  # (2, m, T, in)
        w_ih = np.stack([a["fwd_ih"].T, a["bwd_ih"].T])  # (2, in, 3H)
        w_hh = np.stack([a["fwd_hh"].T, a["bwd_hh"].T])  # (2, H, 3H)
        b_hh = np.stack([a["fwd_bhh"], a["bwd_bhh"]])[:, None]  # (2, 1, 3H)
        gates_x = (
            np.matmul(inputs, w_ih[:, None]) + np.stack([a["fwd_bih"], a["bwd_bih"]])[:, None, None]
        )
        hidden = w_hh.shape[1]
        h = np.zeros((2, m, hidden), dtype=np.float32)
        out = np.empty((2, m, steps, hidden), dtype=np.float32)
        for step in range(steps):
            gx = gates_x[:, :, step]
            gh = np.matmul(h, w_hh) + b_hh
            rz = 0.5 + 0.5 * np.tanh(0.5 * (gx[..., : 2 * hidden] + gh[..., : 2 * hidden]))
            n = np.tanh(gx[..., 2 * hidden :] + rz[..., :hidden] * gh[..., 2 * hidden :])
            h = n + rz[..., hidden:] * (h - n)
            out[:, :, step] = h
        backward = out[1][rows, flip]
        return np.concatenate([out[0], backward], axis=2).astype(np.float32)

    def scores(self, rows: Sequence[FloatArray]) -> FloatArray:
        """Class scores (m, classes) of m targets, each given as its input rows; run in
        chunks of :data:`CHUNK` rows of similar length (little padding)."""
        out = np.zeros((len(rows), self.arrays["out_b"].shape[0]), dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        for start in range(0, len(order), CHUNK):
            chunk = order[start : start + CHUNK]
            out[chunk] = self._scores([rows[i] for i in chunk])
        return out

    def _scores(self, rows: Sequence[FloatArray]) -> FloatArray:
        a = self.arrays
        lengths = np.asarray([len(r) for r in rows], dtype=np.int64)
        steps = int(lengths.max())
        x = np.zeros((len(rows), steps, rows[0].shape[1]), dtype=np.float32)
        for i, r in enumerate(rows):
            x[i, : len(r)] = r
        mask = (np.arange(steps) < lengths[:, None]).astype(np.float32)
        inside = x[:, :, rows[0].shape[1] - a["words"].shape[1] - 1]  # the target flag
        states = self._states(x, lengths)
        target = (states * inside[..., None]).sum(axis=1) / np.maximum(
            inside.sum(axis=1, keepdims=True), 1.0
        )
        keys = np.concatenate([states, np.broadcast_to(target[:, None], states.shape)], axis=2)
        energy = np.where(mask > 0, keys @ a["att_w"] + a["att_b"], -1e9)
        energy = energy - energy.max(axis=1, keepdims=True)
        weights = np.exp(energy) * mask
        weights /= weights.sum(axis=1, keepdims=True)
        context = (weights[..., None] * states).sum(axis=1)
        peak = np.where(mask[..., None] > 0, states, -1e9).max(axis=1)
        pooled = np.concatenate([target, context, peak], axis=1)
        return (pooled @ a["out_w"].T + a["out_b"]).astype(np.float32)

    def proba(self, rows: Sequence[FloatArray]) -> FloatArray:
        """Class probabilities (m, classes)."""
        scores = self.scores(rows)
        if not len(scores):
            return scores
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def mix(self, sparse: FloatArray, rows: Sequence[FloatArray]) -> FloatArray:
        """The sparse model's probabilities (m, classes) mixed with the GRU's for the same
        targets (:func:`mix_probabilities`, GRU weight :attr:`weight`)."""
        if not len(sparse):
            return sparse
        return mix_probabilities(sparse, self.proba(rows), self.weight)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        store: dict[str, Any] = {
            k: v.astype(np.float16 if k == "words" else np.float32) for k, v in self.arrays.items()
        }
        np.savez_compressed(directory / "recurrent.npz", **store)
        (directory / "recurrent.json").write_text(
            json.dumps(self.meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> RecurrentModel:
        meta = json.loads((directory / "recurrent.json").read_text(encoding="utf-8"))
        with np.load(directory / "recurrent.npz") as data:
            missing = set(ARRAYS) - set(data.files)
            if missing:
                raise ValueError(f"{directory}/recurrent.npz lacks {sorted(missing)}")
            arrays = {k: data[k].astype(np.float32) for k in ARRAYS}
        if arrays["words"].shape[0] != 1 << int(meta["bits"]):
            raise ValueError(f"{directory}: word table does not match bits {meta['bits']}")
        return cls(arrays, meta)
