"""A bidirectional GRU that reads a sentence towards one target mention (numpy inference).

The second half of the target sentiment model (``nlp/models/sentiment/recurrent.*``, trained
with PyTorch by ``training/sentiment/recurrent.py``). Each token of the target's sentence
is fed as: its ``tok2vec`` vector (standardised), a hashed word embedding, the VADER
valence of the word, an embedding of its distance to the target (:func:`position_buckets`)
and a flag for the target's own tokens. A GRU runs over the tokens each way; the target's
states (mean), an attention over all states keyed by them, and the states' maximum give
the class scores. A model may hold several such GRUs ("members", trained alike from
different seeds): they run side by side in one loop and their class probabilities are
averaged log-linearly. The sentiment component mixes the result with the sparse model's
(:meth:`RecurrentModel.mix`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from nlp.linear import feature_indices

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
#: Arrays every member has its own of (leading axis: the member); the rest are shared.
MEMBER_ARRAYS = tuple(name for name in ARRAYS if name not in ("mean", "scale"))


class Sentence(NamedTuple):
    """One sentence's non-whitespace tokens: ``tok2vec`` vectors (n, width), feature words
    (as :func:`nlp.sentiment.sentence_words` makes them) and VADER valences / 4."""

    vectors: FloatArray
    words: Sequence[str]
    valences: FloatArray


class TargetRef(NamedTuple):
    """A target ``[start, end)`` in a sentence :meth:`RecurrentModel.encode` made. Its
    input rows (:meth:`RecurrentModel.target_rows`) are made only when its chunk runs,
    so the memory of many targets does not grow with targets x sentence length."""

    encoded: FloatArray
    start: int
    end: int


#: A target as its input rows, or as a reference to build them from.
Target = FloatArray | TargetRef


def position_buckets(n: int, start: int, end: int) -> npt.NDArray[np.int64]:
    """The distance bucket (0..16, 8 = inside the target) of each of ``n`` tokens to the
    target ``[start, end)``."""
    i = np.arange(n)
    distance = np.where(i < start, i - start, np.where(i >= end, i - end + 1, 0))
    size = np.abs(distance)
    bucket = np.where(size <= 5, size, np.where(size <= 10, 6, np.where(size <= 20, 7, 8)))
    return (np.sign(distance) * bucket + 8).astype(np.int64)


def _steps(target: Target) -> int:
    """The number of tokens (GRU steps) of a target's sentence."""
    return len(target.encoded) if isinstance(target, TargetRef) else len(target)


def word_ids(words: Sequence[str], bits: int) -> npt.NDArray[np.int64]:
    """Hashed embedding rows of the words (CRC-32, as the training script hashes them)."""
    return feature_indices(words, len(words), bits)


def mix_probabilities(sparse: FloatArray, gru: FloatArray, weight: float) -> FloatArray:
    """``softmax((1 - weight) log sparse + weight log gru)``, row by row."""
    logits = (1.0 - weight) * np.log(sparse + 1e-9) + weight * np.log(gru + 1e-9)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def pool_members(scores: FloatArray) -> FloatArray:
    """Class probabilities (m, classes) from the members' class scores (members, m,
    classes): the softmax of their mean, which is the normalised geometric mean of the
    members' probabilities."""
    mean = scores.mean(axis=0)
    if not len(mean):
        return mean.astype(np.float32)
    exp = np.exp(mean - mean.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class RecurrentModel:
    """The GRUs' weights (PyTorch layout: gates r, z, n) and settings (``meta``). Each of
    :data:`MEMBER_ARRAYS` has a leading member axis; arrays of a single GRU without it are
    given one."""

    arrays: dict[str, FloatArray]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arrays["fwd_ih"].ndim == 2:
            self.arrays = {k: v[None] if k in MEMBER_ARRAYS else v for k, v in self.arrays.items()}
        members = {self.arrays[k].shape[0] for k in MEMBER_ARRAYS}
        if len(members) != 1:
            raise ValueError(f"member arrays disagree on the number of members: {members}")

    @property
    def members(self) -> int:
        """How many GRUs the model averages."""
        return int(self.arrays["fwd_ih"].shape[0])

    @property
    def bits(self) -> int:
        return int(self.meta["bits"])

    @property
    def weight(self) -> float:
        """The GRU's share in the mix with the sparse model (log-linear)."""
        return float(self.meta["mix"])

    def encode(self, sentence: Sentence) -> FloatArray:
        """The columns of a sentence's input rows that do not depend on the target
        (n, width + 1 + members x word dim): standardised vectors, valences, each member's
        word embeddings. Shared by all targets in the sentence (see :meth:`target_rows`)."""
        a = self.arrays
        n = len(sentence.words)
        if sentence.vectors.shape[0] != n or len(sentence.valences) != n:
            raise ValueError(f"{sentence.vectors.shape[0]} vectors for {n} words")
        ids = word_ids(sentence.words, self.bits)
        return np.concatenate(
            [
                (sentence.vectors - a["mean"]) * a["scale"],
                np.asarray(sentence.valences, dtype=np.float32)[:, None],
                *(words[ids] for words in a["words"]),
            ],
            axis=1,
        ).astype(np.float32)

    def target_rows(self, encoded: FloatArray, start: int, end: int) -> FloatArray:
        """Per-token input rows (n, input width) for the target ``[start, end)`` of a
        sentence :meth:`encode` made: vectors, valence, each member's distance embedding,
        target flag, each member's word embedding. A member reads its own columns in the
        order it was trained with (:meth:`_member_columns`)."""
        n = len(encoded)
        split = len(self.arrays["mean"]) + 1  # vectors and valence | word embeddings
        inside = np.zeros((n, 1), dtype=np.float32)
        inside[start:end] = 1.0
        buckets = position_buckets(n, start, end)
        return np.concatenate(
            [
                encoded[:, :split],
                *(positions[buckets] for positions in self.arrays["positions"]),
                inside,
                encoded[:, split:],
            ],
            axis=1,
        ).astype(np.float32)

    @cached_property
    def _member_columns(self) -> npt.NDArray[np.int64]:
        """(members, member input width): the columns of :meth:`target_rows` each member
        reads: vectors and valence, its distance embedding, the target flag, its words."""
        a = self.arrays
        k = self.members
        split = len(a["mean"]) + 1
        pos, word = a["positions"].shape[2], a["words"].shape[2]
        flag = split + k * pos
        return np.stack(
            [
                np.r_[
                    0:split,
                    split + m * pos : split + (m + 1) * pos,
                    flag,
                    flag + 1 + m * word : flag + 1 + (m + 1) * word,
                ]
                for m in range(k)
            ]
        )

    @property
    def _flag_column(self) -> int:
        """The target flag's column in :meth:`target_rows`."""
        a = self.arrays
        return len(a["mean"]) + 1 + self.members * a["positions"].shape[2]

    def inputs(self, sentence: Sentence, start: int, end: int) -> FloatArray:
        """Per-token input rows for one target (:meth:`encode` then :meth:`target_rows`)."""
        return self.target_rows(self.encode(sentence), start, end)

    @cached_property
    def _gru_weights(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """The GRUs' weights laid out for :meth:`_states`: each member's forward and
        backward input weights side by side (k, in, 2 * 3H) with their biases (k, 1,
        2 * 3H); the hidden weights of the forward then the backward GRUs (2k, H, 3H)
        with their biases (2k, 1, 3H)."""
        a = self.arrays
        w_ih = np.concatenate([a["fwd_ih"], a["bwd_ih"]], axis=1).transpose(0, 2, 1)
        b_ih = np.concatenate([a["fwd_bih"], a["bwd_bih"]], axis=1)[:, None]
        w_hh = np.concatenate([a["fwd_hh"], a["bwd_hh"]]).transpose(0, 2, 1)
        b_hh = np.concatenate([a["fwd_bhh"], a["bwd_bhh"]])[:, None]
        return (
            np.ascontiguousarray(w_ih),
            b_ih,
            np.ascontiguousarray(w_hh),
            b_hh,
        )

    def _states(self, x: FloatArray, lengths: npt.NDArray[np.int64]) -> FloatArray:
        """Each member's forward and backward GRU states (members, m, T, 2H) over its
        inputs ``x`` (members, m, T, in) padded at the end; row i has ``lengths[i]`` real
        steps. The input gates of both directions come from one matrix product per
        member; the backward GRUs' are reversed within each row's length, so all GRUs
        run in one loop with no masking (states past a row's end are never read)."""
        k, m, steps, width = x.shape
        t = np.arange(steps)
        flip = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # an involution
        rows = np.arange(m)[:, None]
        w_ih, b_ih, w_hh, b_hh = self._gru_weights
        hidden = w_hh.shape[1]
        gates = (np.matmul(x.reshape(k, m * steps, width), w_ih) + b_ih).reshape(
            k, m, steps, 2, 3 * hidden
        )
        # Step-major for the loop: (T, 2k, m, 3H), forward GRUs first.
        gates_x = np.empty((steps, 2 * k, m, 3 * hidden), dtype=np.float32)
        gates_x[:, :k] = np.moveaxis(gates[:, :, :, 0], 2, 0)
        gates_x[:, k:] = np.moveaxis(gates[:, rows, flip, 1], 2, 0)
        h = np.zeros((2 * k, m, hidden), dtype=np.float32)
        out = np.empty((steps, 2 * k, m, hidden), dtype=np.float32)
        for step in range(steps):
            gx = gates_x[step]
            gh = np.matmul(h, w_hh) + b_hh
            rz = 0.5 + 0.5 * np.tanh(0.5 * (gx[..., : 2 * hidden] + gh[..., : 2 * hidden]))
            n = np.tanh(gx[..., 2 * hidden :] + rz[..., :hidden] * gh[..., 2 * hidden :])
            h = n + rz[..., hidden:] * (h - n)
            out[step] = h
        states = np.moveaxis(out, 0, 2)  # (2k, m, T, H)
        return np.concatenate([states[:k], states[k:][:, rows, flip]], axis=3)

    def scores(self, rows: Sequence[Target]) -> FloatArray:
        """Each member's class scores (members, m, classes) for m targets, each given as
        its input rows or a :class:`TargetRef`; run in chunks of :data:`CHUNK` targets of
        similar length (little padding), a chunk's rows made when it runs."""
        members, classes = self.arrays["out_b"].shape
        out = np.zeros((members, len(rows), classes), dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: _steps(rows[i]))
        for start in range(0, len(order), CHUNK):
            chunk = order[start : start + CHUNK]
            out[:, chunk] = self._scores([self._rows(rows[i]) for i in chunk])
        return out

    def _rows(self, target: Target) -> FloatArray:
        if isinstance(target, TargetRef):
            return self.target_rows(target.encoded, target.start, target.end)
        return target

    def _scores(self, rows: Sequence[FloatArray]) -> FloatArray:
        a = self.arrays
        lengths = np.asarray([len(r) for r in rows], dtype=np.int64)
        steps = int(lengths.max())
        x = np.zeros((len(rows), steps, rows[0].shape[1]), dtype=np.float32)
        for i, r in enumerate(rows):
            x[i, : len(r)] = r
        mask = (np.arange(steps) < lengths[:, None]).astype(np.float32)
        inside = x[:, :, self._flag_column]
        states = self._states(np.moveaxis(x[..., self._member_columns], 2, 0), lengths)
        target = (states * inside[..., None]).sum(axis=2) / np.maximum(
            inside.sum(axis=1, keepdims=True), 1.0
        )
        keys = np.concatenate([states, np.broadcast_to(target[:, :, None], states.shape)], axis=3)
        energy = np.einsum("kmtf,kf->kmt", keys, a["att_w"]) + a["att_b"][:, None]
        energy = np.where(mask > 0, energy, -1e9)
        energy = energy - energy.max(axis=2, keepdims=True)
        weights = np.exp(energy) * mask
        weights /= weights.sum(axis=2, keepdims=True)
        context = (weights[..., None] * states).sum(axis=2)
        peak = np.where(mask[..., None] > 0, states, -1e9).max(axis=2)
        pooled = np.concatenate([target, context, peak], axis=2)
        scores = np.einsum("kmf,kcf->kmc", pooled, a["out_w"]) + a["out_b"][:, None]
        return scores.astype(np.float32)

    def proba(self, rows: Sequence[Target]) -> FloatArray:
        """Class probabilities (m, classes): the members' averaged log-linearly
        (:func:`pool_members`)."""
        return pool_members(self.scores(rows))

    def mix(self, sparse: FloatArray, rows: Sequence[Target]) -> FloatArray:
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
        if arrays["words"].shape[-2] != 1 << int(meta["bits"]):
            raise ValueError(f"{directory}: word table does not match bits {meta['bits']}")
        return cls(arrays, meta)
