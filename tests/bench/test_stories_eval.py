"""The stories benchmark's metrics and its near-duplicate edits."""

from __future__ import annotations

import random

import pytest

from bench import stories_eval


def test_bcubed_on_a_known_case() -> None:
    gold = ["a", "a", "b", "b"]
    pred = [1, 1, 1, 2]
    scores = stories_eval.bcubed(gold, pred)
    # precision: items 0,1,2 in a cluster of 3 with 2,2,1 same-gold: (2/3+2/3+1/3+1)/4
    assert scores["precision"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert scores["recall"] == pytest.approx((1 + 1 + 1 / 2 + 1 / 2) / 4)
    assert stories_eval.bcubed(gold, gold)["bcubed_f1"] == 1.0


def test_nmi_is_one_for_a_relabelling_and_zero_for_one_cluster() -> None:
    gold = [1, 1, 2, 2, 3]
    assert stories_eval.nmi(gold, ["x", "x", "y", "y", "z"]) == pytest.approx(1.0)
    assert stories_eval.nmi(gold, [0, 0, 0, 0, 0]) == pytest.approx(0.0)


def test_a_republished_copy_keeps_most_of_the_text() -> None:
    body = "\n    ".join(
        f"Paragraph {i} says something about cocoa prices in Bahia." for i in range(6)
    )
    copy = stories_eval.republish("BAHIA COCOA REVIEW", body, random.Random(3), "Other story.")
    kept = sum(f"Paragraph {i} says" in copy for i in range(6))
    assert 5 <= kept <= 6
    assert copy != "BAHIA COCOA REVIEW\n\n" + body
