"""The sparse linear model's training helpers (training/linear.py; nlp/linear.py)."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.linear import SparseRows, feature_index
from training.linear import fit_from_config, naive_bayes_weights

CLASSES = ("economy", "sport")
ROWS = [
    {"u:goal": 1.0, "u:the": 1.0},
    {"u:goal": 1.0, "u:match": 1.0},
    {"u:shares": 1.0, "u:the": 1.0},
    {"u:shares": 1.0, "u:bank": 1.0},
]
LABELS = ["sport", "sport", "economy", "economy"]
BITS = 10


def row(name: str, weights: np.ndarray) -> dict[str, float]:
    return dict(zip(CLASSES, weights[feature_index(name, BITS)].tolist(), strict=True))


def test_naive_bayes_weights_are_centred_log_shares() -> None:
    weights = naive_bayes_weights(ROWS, LABELS, CLASSES, bits=BITS, smoothing=0.5)
    assert weights.shape == (1 << BITS, 2)
    # Each class has a total value of 4; "goal" has 2 of sport's and none of economy's.
    # log((2 + 0.5) / (4 + 512)) - log((0 + 0.5) / (4 + 512)) = log 5, split around 0.
    goal = row("u:goal", weights)
    assert np.isclose(goal["sport"], np.log(5) / 2, atol=1e-6)
    assert np.isclose(goal["economy"], -np.log(5) / 2, atol=1e-6)
    assert row("u:shares", weights)["economy"] > 0 > row("u:shares", weights)["sport"]
    # A word both classes use equally, and a word never seen, get no pull either way.
    assert np.allclose(list(row("u:the", weights).values()), 0.0, atol=1e-6)
    assert np.allclose(list(row("u:unseen", weights).values()), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="at least 0"):
        naive_bayes_weights([{"v:bad": -1.0}], ["sport"], CLASSES, bits=BITS, smoothing=0.5)


def test_fit_from_config_adds_the_naive_bayes_weights() -> None:
    config = {"bits": BITS, "epochs": 3, "learning_rate": 0.2, "l2": 0.0, "seed": 1}
    config["batch_size"] = 2
    plain = fit_from_config(ROWS, LABELS, CLASSES, config)
    mixed = fit_from_config(
        ROWS, LABELS, CLASSES, {**config, "nb_weight": 0.5, "nb_smoothing": 0.5}
    )
    prior = naive_bayes_weights(ROWS, LABELS, plain.classes, bits=BITS, smoothing=0.5)
    assert np.allclose(mixed.weights, plain.weights + 0.5 * prior, atol=1e-6)
    assert np.array_equal(mixed.bias, plain.bias)
    assert mixed.proba({"u:goal": 1.0})["sport"] > plain.proba({"u:goal": 1.0})["sport"] > 0.5


def test_sparse_rows_hash_every_feature_with_feature_index() -> None:
    rows = [{"u:goal": 0.5, "b:the goal": 2.0}, {}, {"é=café": 1.0}]
    data = SparseRows.build(rows, BITS)
    assert data.indptr.tolist() == [0, 2, 2, 3]
    assert data.indices.tolist() == [feature_index(n, BITS) for row in rows for n in row]
    assert data.values.tolist() == [0.5, 2.0, 1.0]
    assert len(SparseRows.build([], BITS)) == 0
