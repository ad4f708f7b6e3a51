"""Trending: per-minute mention counts of items (entities, stories) in a ring of buckets;
an item's score compares its count over the recent window with the rate it had over the
baseline window before it:

    expected = baseline_count * recent_s / baseline_s
    score    = (recent_count + 1) / (expected + 1)

(a smoothed ratio: +1 keeps new items finite and damps small counts). Only items with at
least ``min_recent`` mentions in the recent window are ranked, so one article never trends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from stories.config import Config


class Trend(NamedTuple):
    item: str
    score: float
    recent: int
    baseline: int


class Trending:
    def __init__(self, config: Config) -> None:
        c = config.trending
        self.bucket_s = c.bucket_s
        self.recent = c.recent_s // c.bucket_s
        self.baseline = c.baseline_s // c.bucket_s
        self.min_recent = c.min_recent
        self.top_n = c.top
        #: item -> {bucket number: count}
        self.counts: dict[str, dict[int, int]] = defaultdict(dict)

    def bucket(self, t: float) -> int:
        return int(t // self.bucket_s)

    def add(self, items: Iterable[str], t: float) -> None:
        b = self.bucket(t)
        for item in set(items):
            per = self.counts[item]
            per[b] = per.get(b, 0) + 1

    def expire(self, now: float) -> None:
        oldest = self.bucket(now) - self.recent - self.baseline
        for item in list(self.counts):
            per = self.counts[item]
            for b in [b for b in per if b <= oldest]:
                del per[b]
            if not per:
                del self.counts[item]

    def top(self, now: float) -> list[Trend]:
        """The items whose recent count beats their baseline rate most, best first (ties by
        name), at most ``top`` of them."""
        self.expire(now)
        current = self.bucket(now)
        recent_from = current - self.recent + 1
        base_from = recent_from - self.baseline
        trends = []
        for item, per in self.counts.items():
            recent = sum(n for b, n in per.items() if recent_from <= b <= current)
            if recent < self.min_recent:
                continue
            base = sum(n for b, n in per.items() if base_from <= b < recent_from)
            expected = base * self.recent / self.baseline
            trends.append(Trend(item, (recent + 1) / (expected + 1), recent, base))
        trends.sort(key=lambda tr: (-tr.score, tr.item))
        return trends[: self.top_n]
