"""Fitting the sparse linear models of :mod:`nlp.linear` (training only; the runtime
keeps inference): multinomial logistic regression by minibatch AdaGrad, an optional
dense head trained with Adam, model averaging and a naive Bayes prior."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.linear import DenseHead, Features, FloatArray, LinearModel, SparseRows, _scores, softmax


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
    dense: FloatArray | None = None,
    hidden: int = 64,
    dense_learning_rate: float = 3e-4,
    dense_l2: float = 1e-4,
    dropout: float = 0.2,
) -> LinearModel:
    """Multinomial logistic regression by minibatch AdaGrad with L2 on the touched rows.

    With ``dense`` inputs (one row per feature row) a :class:`DenseHead` of ``hidden``
    units is trained jointly (Adam, L2 ``dense_l2``, ``dropout`` on the hidden units;
    inputs standardised by their training mean and deviation).
    Deterministic for a given ``seed`` (shuffling, initialisation and dropout)."""
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
    trainer = (
        None
        if dense is None
        else _HeadTrainer(
            np.asarray(dense, dtype=np.float32),
            k,
            hidden,
            dense_learning_rate,
            dense_l2,
            dropout,
            rng,
        )
    )
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            part = data.take(batch)
            scores = _scores(weights, bias, part)
            if trainer is not None:
                scores = scores + trainer.forward(batch)
            probs = softmax(scores)
            delta = (probs - onehot[y[batch]]) * weight_of[batch, None]
            if trainer is not None:
                trainer.backward((delta / len(batch)).astype(np.float32))
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
    head = None if trainer is None else trainer.head()
    return LinearModel(list(classes), bits, weights, bias, head=head)


class _HeadTrainer:
    """Adam on a :class:`DenseHead`'s hidden and output layers, batch by batch."""

    def __init__(
        self,
        dense: FloatArray,
        classes: int,
        hidden: int,
        learning_rate: float,
        l2: float,
        dropout: float,
        rng: np.random.Generator,
    ) -> None:
        self.mean = dense.mean(axis=0)
        self.scale = (1.0 / (dense.std(axis=0) + 1e-6)).astype(np.float32)
        self.x = ((dense - self.mean) * self.scale).astype(np.float32)
        width = dense.shape[1]
        self.params = [
            (rng.standard_normal((width, hidden)) * np.sqrt(2.0 / width)).astype(np.float32),
            np.zeros(hidden, dtype=np.float32),
            np.zeros((hidden, classes), dtype=np.float32),
        ]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.learning_rate, self.l2, self.dropout, self.rng = learning_rate, l2, dropout, rng
        self.steps = 0
        self.saved: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None

    def forward(self, batch: npt.NDArray[np.int64]) -> FloatArray:
        hidden_w, hidden_b, out_w = self.params
        x = self.x[batch]
        pre = x @ hidden_w + hidden_b
        keep = (self.rng.random(pre.shape) >= self.dropout).astype(np.float32)
        mask = (keep / (1.0 - self.dropout) * (pre > 0)).astype(np.float32)
        act = pre * mask
        self.saved = (x, pre, mask, act)
        return (act @ out_w).astype(np.float32)

    def backward(self, delta: FloatArray) -> None:
        """Update from d(loss)/d(scores) of the last forward batch (already averaged)."""
        if self.saved is None:
            raise RuntimeError("backward before forward")
        x, _, mask, act = self.saved
        hidden_w, _, out_w = self.params
        d_act = (delta @ out_w.T) * mask
        grads = [
            x.T @ d_act + self.l2 * hidden_w,
            d_act.sum(axis=0),
            act.T @ delta + self.l2 * out_w,
        ]
        self.steps += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g**2
            m_hat = m / (1 - 0.9**self.steps)
            v_hat = v / (1 - 0.999**self.steps)
            p -= (self.learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)

    def head(self) -> DenseHead:
        hidden_w, hidden_b, out_w = self.params
        return DenseHead(self.mean.astype(np.float32), self.scale, hidden_w, hidden_b, out_w)


def average_models(models: Sequence[LinearModel]) -> LinearModel:
    """One model whose class scores are the mean of the given models' scores (same classes
    and bits; their dense heads, if any, share the input standardisation and are
    concatenated unit by unit)."""
    if not models:
        raise ValueError("no models to average")
    first = models[0]
    weights = np.mean([m.weights for m in models], axis=0).astype(np.float32)
    bias = np.mean([m.bias for m in models], axis=0).astype(np.float32)
    heads = [m.head for m in models if m.head is not None]
    head = None
    if heads:
        if len(heads) != len(models):
            raise ValueError("either all models or none have a dense head")
        head = DenseHead(
            heads[0].mean,
            heads[0].scale,
            np.concatenate([h.hidden_w for h in heads], axis=1),
            np.concatenate([h.hidden_b for h in heads]),
            (np.concatenate([h.out_w for h in heads], axis=0) / len(heads)).astype(np.float32),
        )
    return LinearModel(list(first.classes), first.bits, weights, bias, dict(first.meta), head)


def naive_bayes_weights(
    rows: Sequence[Features],
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    bits: int,
    smoothing: float,
) -> FloatArray:
    """Multinomial naive Bayes as linear weights (``2**bits`` × classes): the log of each
    class's smoothed share of each feature row's total value, centred per row (a constant
    per row changes no class probability). Added to a logistic regression's weights
    (:func:`fit_from_config`, ``nb_weight``) it acts as a prior towards words that are
    frequent in one class, which helps on small training sets. Feature values must not be
    negative (they are counted)."""
    data = SparseRows.build(rows, bits)
    if len(data.values) and float(data.values.min()) < 0:
        raise ValueError("naive Bayes needs feature values of at least 0")
    col = {c: i for i, c in enumerate(classes)}
    y = np.asarray([col[label] for label in labels], dtype=np.int64)
    counts = np.zeros((1 << bits, len(classes)), dtype=np.float64)
    row_class = np.repeat(y, np.diff(data.indptr))
    np.add.at(counts, (data.indices, row_class), data.values.astype(np.float64))
    log_share = np.log(counts + smoothing) - np.log(
        counts.sum(axis=0, keepdims=True) + smoothing * (1 << bits)
    )
    return (log_share - log_share.mean(axis=1, keepdims=True)).astype(np.float32)


def fit_from_config(
    rows: Sequence[Features], labels: Sequence[str], classes: Sequence[str], config: dict[str, Any]
) -> LinearModel:
    """:func:`fit_softmax` with its hyper-parameters read from a training config file; with
    ``nb_weight`` > 0, plus that times :func:`naive_bayes_weights` (``nb_smoothing``)."""
    model = fit_softmax(
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
    nb_weight = float(config.get("nb_weight", 0.0))
    if nb_weight > 0:
        prior = naive_bayes_weights(
            rows,
            labels,
            model.classes,
            bits=model.bits,
            smoothing=float(config["nb_smoothing"]),
        )
        model.weights = (model.weights + nb_weight * prior).astype(np.float32)
    return model
