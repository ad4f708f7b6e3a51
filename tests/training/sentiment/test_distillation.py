"""The transfer set the sentiment GRU is distilled from: Reuters and BBC sentences and their
PERSON/ORG/GPE targets, the teacher's soft labels, and the GRU's training examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.sentiment.recurrent import Examples, contrasted, read_transfer
from training.sentiment.teacher import (
    CONFIG,
    bbc_texts,
    marked,
    reuters_texts,
    training_settings,
    transfer_pairs,
)
from training.sentiment.train import Featurised


def write_reuters(path: Path) -> None:
    records = [
        {"lewissplit": "TEST", "body": "Held-out article about Ronald Reagan.\nReuter"},
        {
            "lewissplit": "TRAIN",
            "body": "Treasury Secretary James Baker said the U.S. opposes Soviet\n"
            "membership of the World Bank. Baker spoke to reporters in Washington on\n"
            "Friday.\nReuter",
        },
        {"lewissplit": "TRAIN", "body": ""},
        {"lewissplit": "NOT-USED", "body": "Nothing here."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_reuters_texts_are_training_bodies_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "reuters.jsonl"
    write_reuters(path)
    assert list(reuters_texts(path, seed=0)) == [
        "Treasury Secretary James Baker said the U.S. opposes Soviet membership of the "
        "World Bank. Baker spoke to reporters in Washington on Friday."
    ]


def test_bbc_texts_are_every_body_on_one_line_in_a_seeded_order(tmp_path: Path) -> None:
    path = tmp_path / "bbc.jsonl"
    bodies = [f"Story {i} said\n\nthe  minister." for i in range(6)]
    rows = [
        {"id": str(i), "category": "politics", "headline": "H", "body": b}
        for i, b in enumerate(bodies)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n", encoding="utf-8")
    texts = list(bbc_texts(path, seed=0))
    assert sorted(texts) == [f"Story {i} said the minister." for i in range(6)]
    assert texts == list(bbc_texts(path, seed=0))
    assert texts != list(bbc_texts(path, seed=1))  # 6! orders: another seed, another order
    # a corpus whose limit is 0 (or missing) gives no targets without reading it
    config = {"seed": 0, "bbc_targets": 0, "transfer_per_sentence": 3}
    assert transfer_pairs(tmp_path / "missing.jsonl", config, "bbc") == []


def test_transfer_pairs_are_the_ner_targets_of_each_sentence(tmp_path: Path) -> None:
    path = tmp_path / "reuters.jsonl"
    write_reuters(path)
    config = {"seed": 0, "transfer_targets": 100, "transfer_per_sentence": 2}
    pairs = transfer_pairs(path, config)
    first = (
        "Treasury Secretary James Baker said the U.S. opposes Soviet membership of the World Bank."
    )
    second = "Baker spoke to reporters in Washington on Friday."
    # At most two targets per sentence: "U.S." and "World Bank" are the first one's 3rd and 4th.
    assert [(s, s[a:b]) for s, a, b in pairs] == [
        (first, "Treasury"),
        (first, "James Baker"),
        (second, "Baker"),
        (second, "Washington"),
    ]
    assert all(s[a:b] == s[a:b].strip() for s, a, b in pairs)
    config["transfer_targets"] = 3
    assert len(transfer_pairs(path, config)) == 3


def test_examples_learn_gold_one_hot_or_the_teachers_probabilities(tmp_path: Path) -> None:
    path = tmp_path / "transfer.jsonl"
    rows = [
        {
            "sentence": "Critics blasted Smith over the deal.",
            "from": 16,
            "to": 21,
            "probs": [0.7, 0.2, 0.1],
        },
        {"sentence": "Jones praised the plan.", "from": 0, "to": 5, "probs": [0.1, 0.3, 0.6]},
        {"sentence": "Acme said nothing.", "from": 0, "to": 4, "probs": [0.2, 0.5, 0.3]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    targets, soft = read_transfer(path, limit=2)
    assert targets == [
        ("Critics blasted Smith over the deal.", 16, 21, "negative"),
        ("Jones praised the plan.", 0, 5, "positive"),
    ]
    np.testing.assert_allclose(soft, [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], rtol=1e-6)
    data = Featurised(targets)
    assert data.spans == [(2, 3), (0, 1)]
    width = data.tokens[0].vectors.shape[1]
    mean, scale = np.zeros(width, np.float32), np.ones(width, np.float32)
    gold = Examples(data, 8, mean, scale).items
    assert [(it[2], it[3], it[4].tolist(), it[5]) for it in gold] == [
        (2, 3, [1.0, 0.0, 0.0], 1.0),
        (0, 1, [0.0, 0.0, 1.0], 1.0),
    ]
    taught = Examples(data, 8, mean, scale, soft, weight=0.5).items
    assert taught[1][4].tolist() == pytest.approx([0.1, 0.3, 0.6])
    assert taught[1][5] == 0.5
    # Fixed columns: the tok2vec vector and the word's VADER valence (/4): "praised" > 0.
    assert taught[1][0].shape == (5, width + 1)
    assert taught[1][0][1, -1] > 0


def test_gold_targets_whose_sentence_holds_another_label_get_the_contrast_weight() -> None:
    blame = "Critics slammed Smith, while Jones was praised."
    both = "Smith and Jones were arrested."
    targets = [
        (blame, 16, 21, "negative"),
        (blame, 29, 34, "positive"),
        (both, 0, 5, "negative"),
        (both, 10, 15, "negative"),
    ]
    assert contrasted([0, 0, 1, 1], [t[3] for t in targets]).tolist() == [True, True, False, False]
    data = Featurised(targets)
    width = data.tokens[0].vectors.shape[1]
    mean, scale = np.zeros(width, np.float32), np.ones(width, np.float32)
    items = Examples(data, 8, mean, scale, contrast_weight=3.0).items
    assert [it[5] for it in items] == [3.0, 3.0, 1.0, 1.0]
    # Teacher labels are never up-weighted: the contrast is the gold labels' own.
    soft = np.full((4, 3), 1 / 3, dtype=np.float32)
    taught = Examples(data, 8, mean, scale, soft, weight=0.5, contrast_weight=3.0).items
    assert [it[5] for it in taught] == [0.5] * 4


def test_a_cached_teacher_is_reused_when_only_the_labelling_settings_change() -> None:
    config = json.loads(CONFIG.read_text(encoding="utf-8"))
    settings = training_settings(config)
    assert "transfer_targets" not in settings and "transfer_per_sentence" not in settings
    assert settings["epochs"] == config["epochs"] == 4
    assert settings["mark_target"] is True
    assert training_settings({**config, "transfer_targets": 5}) == settings
    assert training_settings({**config, "epochs": 2}) != settings
    assert training_settings({**config, "mark_target": False}) != settings


def test_the_teacher_is_shown_which_mention_is_meant() -> None:
    text = "Smith praised Jones, and Jones thanked Smith."
    assert marked((text, 25, 30)) == "Smith praised Jones, and [Jones] thanked Smith."
    assert marked((text, 0, 5)) == "[Smith] praised Jones, and Jones thanked Smith."
