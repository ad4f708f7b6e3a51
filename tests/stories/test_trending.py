"""Trending: the smoothed ratio of the recent count to the baseline rate, with the minimum
count, ranked best first."""

from __future__ import annotations

import pytest

from stories import Trending, load_config

HOUR, DAY = 3600.0, 86400.0


def test_a_burst_trends_above_a_steady_item() -> None:
    trending = Trending(load_config())
    start = 100 * DAY
    for h in range(24):  # the baseline day: "steady" once an hour, "burst" never
        trending.add(["steady"], start + h * HOUR)
    now = start + DAY + 30 * 60
    for m in range(4):
        trending.add(["burst", "steady"], now - m * 60)
    top = trending.top(now)
    assert [t.item for t in top] == ["burst", "steady"]
    burst, steady = top
    assert (burst.recent, burst.baseline) == (4, 0)
    assert burst.score == pytest.approx(5.0)
    assert (steady.recent, steady.baseline) == (4, 24)
    assert steady.score == pytest.approx(5 / 2)


def test_fewer_than_the_minimum_mentions_never_trend() -> None:
    trending = Trending(load_config())
    trending.add(["once"], 0.0)
    trending.add(["once"], 60.0)
    assert trending.top(120.0) == []


def test_old_buckets_expire() -> None:
    trending = Trending(load_config())
    trending.add(["old"], 0.0)
    trending.top(2 * DAY)
    assert "old" not in trending.counts
