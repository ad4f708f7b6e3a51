"""The GRU half of the target sentiment model: inputs, numpy inference, mixing, storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlp.linear import LinearModel
from nlp.recurrent import (
    ARRAYS,
    MEMBER_ARRAYS,
    POSITION_BUCKETS,
    RecurrentModel,
    Sentence,
    position_buckets,
)
from nlp.sentiment import load_recurrent_model, target_sentiment

WIDTH, HIDDEN, WORD_DIM, POS_DIM, BITS = 4, 3, 2, 2, 4


def small_model(seed: int = 0, mix: float = 0.5) -> RecurrentModel:
    """A random model small enough to check by hand-written reference code."""
    rng = np.random.default_rng(seed)
    size = WIDTH + 1 + POS_DIM + 1 + WORD_DIM

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    arrays = {
        "mean": r(WIDTH),
        "scale": np.abs(r(WIDTH)) + 0.5,
        "words": r(1 << BITS, WORD_DIM),
        "positions": r(POSITION_BUCKETS, POS_DIM),
        "att_w": r(4 * HIDDEN),
        "att_b": r(1),
        "out_w": r(3, 6 * HIDDEN),
        "out_b": r(3),
    }
    for way in ("fwd", "bwd"):
        arrays |= {
            f"{way}_ih": r(3 * HIDDEN, size),
            f"{way}_hh": r(3 * HIDDEN, HIDDEN),
            f"{way}_bih": r(3 * HIDDEN),
            f"{way}_bhh": r(3 * HIDDEN),
        }
    return RecurrentModel(arrays, {"bits": BITS, "mix": mix})


def sentence(n: int, seed: int = 1) -> Sentence:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n)]
    valences = rng.uniform(-1, 1, n).astype(np.float32)
    return Sentence(rng.standard_normal((n, WIDTH)).astype(np.float32), words, valences)


def reference_scores(model: RecurrentModel, x: np.ndarray) -> np.ndarray:
    """One target, token by token, in plain Python loops (PyTorch's GRU equations)."""
    a = {k: v[0] if k in MEMBER_ARRAYS else v for k, v in model.arrays.items()}
    assert model.members == 1

    def run(way: str, order: list[int]) -> dict[int, np.ndarray]:
        h = np.zeros(HIDDEN)
        out = {}
        for t in order:
            gx = a[way + "_ih"] @ x[t] + a[way + "_bih"]
            gh = a[way + "_hh"] @ h + a[way + "_bhh"]
            r = 1 / (1 + np.exp(-(gx[:HIDDEN] + gh[:HIDDEN])))
            z = 1 / (1 + np.exp(-(gx[HIDDEN : 2 * HIDDEN] + gh[HIDDEN : 2 * HIDDEN])))
            n = np.tanh(gx[2 * HIDDEN :] + r * gh[2 * HIDDEN :])
            h = (1 - z) * n + z * h
            out[t] = h
        return out

    steps = list(range(len(x)))
    fwd, bwd = run("fwd", steps), run("bwd", steps[::-1])
    states = np.stack([np.concatenate([fwd[t], bwd[t]]) for t in steps])
    inside = x[:, WIDTH + 1 + POS_DIM]
    target = (states * inside[:, None]).sum(0) / inside.sum()
    energy = np.array([a["att_w"] @ np.concatenate([s, target]) + a["att_b"][0] for s in states])
    weights = np.exp(energy - energy.max())
    weights /= weights.sum()
    context = (weights[:, None] * states).sum(0)
    pooled = np.concatenate([target, context, states.max(0)])
    return a["out_w"] @ pooled + a["out_b"]


def test_position_buckets() -> None:
    buckets = position_buckets(30, 10, 12)
    assert buckets[10] == buckets[11] == 8  # the target
    assert buckets[9] == 7 and buckets[12] == 9  # one word before, one after
    assert buckets[5] == 3 and buckets[16] == 13  # five away: the last one-word bucket
    assert buckets[0] == 2  # ten before: 6..10
    assert buckets[25] == 15 and buckets[29] == 15  # 14 and 18 after: 11..20
    assert position_buckets(40, 0, 1)[35] == 16  # beyond 20
    assert buckets.min() >= 0 and position_buckets(40, 39, 40).min() == 0


def test_inputs_are_the_documented_columns() -> None:
    model = small_model()
    s = sentence(6)
    x = model.inputs(s, 2, 4)
    assert x.shape == (6, WIDTH + 1 + POS_DIM + 1 + WORD_DIM)
    a = model.arrays
    assert np.allclose(x[:, :WIDTH], (s.vectors - a["mean"]) * a["scale"])
    assert np.allclose(x[:, WIDTH], s.valences)
    assert np.allclose(x[0, WIDTH + 1 : WIDTH + 1 + POS_DIM], a["positions"][0, 6])  # 2 before
    assert x[:, WIDTH + 1 + POS_DIM].tolist() == [0, 0, 1, 1, 0, 0]
    with pytest.raises(ValueError, match="vectors for"):
        model.inputs(Sentence(s.vectors[:5], s.words, s.valences), 0, 1)


def test_numpy_gru_matches_the_reference_and_ignores_padding() -> None:
    model = small_model()
    short, long = sentence(3, seed=2), sentence(9, seed=3)
    rows = [model.inputs(short, 1, 2), model.inputs(long, 4, 7), model.inputs(long, 0, 1)]
    [batched] = model.scores(rows)  # the only member's
    for row, got in zip(rows, batched, strict=True):
        assert np.allclose(got, reference_scores(model, row), atol=1e-4)
        # Alone (no padding) the same as in a batch padded to 9 steps.
        assert np.allclose(model.scores([row])[0, 0], got, atol=1e-5)
    probs = model.proba(rows)
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs > 0).all()
    assert model.scores([]).shape == (1, 0, 3)


def test_mix_weights_the_two_models() -> None:
    rows = [small_model().inputs(sentence(5), 1, 3)]
    sparse = np.array([[0.7, 0.2, 0.1]], dtype=np.float32)
    gru = small_model(mix=1.0).proba(rows)
    assert np.allclose(small_model(mix=0.0).mix(sparse, rows), sparse, atol=1e-6)
    assert np.allclose(small_model(mix=1.0).mix(sparse, rows), gru, atol=1e-6)
    half = np.sqrt(sparse * gru)
    assert np.allclose(small_model(mix=0.5).mix(sparse, rows), half / half.sum(), atol=1e-6)


def test_members_are_averaged_log_linearly() -> None:
    """Two GRUs stored as one model give the softmax of their mean log-probabilities, each
    member reading its own distance and word embeddings."""
    one, two = small_model(seed=0), small_model(seed=5)
    both = RecurrentModel(
        {
            k: np.concatenate([one.arrays[k], two.arrays[k]]) if k in MEMBER_ARRAYS else v
            for k, v in one.arrays.items()
        },
        one.meta,
    )
    assert both.members == 2
    # The shared columns (tok2vec vectors, valences) must match: give both one's.
    two.arrays["mean"], two.arrays["scale"] = one.arrays["mean"], one.arrays["scale"]
    targets = [(sentence(5), 1, 3), (sentence(8, seed=4), 0, 2)]
    rows = [both.inputs(s, a, b) for s, a, b in targets]
    assert rows[0].shape == (5, WIDTH + 1 + 2 * POS_DIM + 1 + 2 * WORD_DIM)
    p1 = one.proba([one.inputs(s, a, b) for s, a, b in targets])
    p2 = two.proba([two.inputs(s, a, b) for s, a, b in targets])
    expected = np.sqrt(p1 * p2)
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(both.proba(rows), expected, atol=1e-5)
    assert not np.allclose(p1, p2, atol=1e-2)  # the members differ, so the test can fail
    assert both.scores(rows).shape == (2, 2, 3)
    assert both.proba([]).shape == (0, 3)


def test_save_and_load(tmp_path: Path) -> None:
    model = small_model()
    model.save(tmp_path)
    again = RecurrentModel.load(tmp_path)
    assert set(again.arrays) == set(ARRAYS) and again.meta == model.meta
    rows = [model.inputs(sentence(4), 0, 2)]
    # The word table is stored as float16; the rest exactly.
    assert np.allclose(again.scores(rows), model.scores(rows), atol=1e-2)
    assert load_recurrent_model(str(tmp_path / "none")) is None
    (tmp_path / "recurrent.json").write_text('{"bits": 5, "mix": 0.5}', encoding="utf-8")
    with pytest.raises(ValueError, match="word table"):
        RecurrentModel.load(tmp_path)


def test_shipped_gru_alone_reads_the_target_side() -> None:
    """The committed GRU on its own, before mixing: the blame lands on the one blamed."""
    model = load_recurrent_model()
    assert model is not None
    gru_only = RecurrentModel(model.arrays, {**model.meta, "mix": 1.0})
    flat = LinearModel(  # uniform probabilities: the mix is the GRU's alone
        ["negative", "neutral", "positive"],
        1,
        np.zeros((2, 3), dtype=np.float32),
        np.zeros(3, dtype=np.float32),
    )

    def sentiments(text: str) -> list[tuple[str, float]]:
        spans = [(text.index(name), text.index(name) + 5) for name in ("Smith", "Jones")]
        found = target_sentiment(text, spans, model=flat, recurrent=gru_only)
        return [(s["label"], s["score"]) for s in found]

    [(smith, smith_score), (jones, jones_score)] = sentiments(
        "Critics slammed Smith for the disastrous decision, while Jones was praised."
    )
    assert smith == "negative" and smith_score < -0.8
    assert jones != "negative" and jones_score > smith_score + 0.5
    [(smith, _), (jones, _)] = sentiments("Smith was arrested and charged with fraud, Jones said.")
    assert (smith, jones) == ("negative", "neutral")
