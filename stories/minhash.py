"""Near-duplicates: MinHash signatures of word shingles, LSH bands in a :class:`KeyIndex`,
within a time window. ``similarity`` is the estimated containment of the smaller text's
shingles in the other's, |A n B| / min(|A|, |B|), from the MinHash estimate J of the
Jaccard similarity and the two shingle counts (|A n B| = J (|A| + |B|) / (1 + J)): a cut
paragraph lowers Jaccard much more than containment. ``duplicate_of`` is the earliest live
article whose similarity reaches the threshold."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from stories.config import Config
from stories.index import KeyIndex
from stories.text import shingle_hashes, words

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
MASK32 = np.uint64(0xFFFFFFFF)


class Match(NamedTuple):
    duplicate_of: str | None
    similarity: float


def permutations(n: int, seed: int = 20) -> tuple[U64, U64]:
    """``n`` multiply-shift hash functions (a odd), the same for every process."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, n, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, n, dtype=np.uint64)
    return a, b


class MinHasher:
    def __init__(self, config: Config) -> None:
        self.shingle = config.duplicates.shingle
        self.a, self.b = permutations(config.duplicates.permutations)
        self.bands = config.duplicates.bands
        self.rows = config.duplicates.permutations // self.bands

    def signature(self, text: str) -> tuple[U32, int]:
        """The MinHash signature and the number of distinct shingles."""
        sh = shingle_hashes(words(text), self.shingle).astype(np.uint64)
        if len(sh) == 0:
            return np.full(len(self.a), 0xFFFFFFFF, np.uint32), 0
        with np.errstate(over="ignore"):
            hashed = (sh[None, :] * self.a[:, None] + self.b[:, None]) >> np.uint64(32)
        return hashed.min(axis=1).astype(np.uint32), len(sh)

    def band_keys(self, sig: U32) -> U64:
        """One 64-bit key per band: the band number and a hash of its rows."""
        rows = sig.reshape(self.bands, self.rows).astype(np.uint64)
        acc = np.zeros(self.bands, np.uint64)
        with np.errstate(over="ignore"):
            for r in range(self.rows):
                acc = acc * np.uint64(0x100000001B3) + rows[:, r]
        return (acc & ~np.uint64(0xFF)) | np.arange(self.bands, dtype=np.uint64)


class DuplicateIndex:
    """The live articles' signatures (``uint32[n, permutations]``), their times and ids, and
    the LSH bands; slots older than the window are dropped from the front."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.hasher = MinHasher(config)
        self.window = config.duplicates.window_s
        self.threshold = config.duplicates.threshold
        self.base = 0  # slot number of row 0
        self.sigs: U32 = np.zeros((0, config.duplicates.permutations), np.uint32)
        self.times = np.zeros(0, np.float64)
        self.sizes = np.zeros(0, np.float32)
        self.count = 0
        self.ids: list[str] = []
        self.bands = KeyIndex()

    def __len__(self) -> int:
        return self.count - self.base

    def _append(self, sig: U32, size: int, t: float, article_id: str) -> int:
        n = self.count - self.base
        if n == len(self.sigs):
            grow = max(1024, n)
            self.sigs = np.concatenate([self.sigs, np.zeros((grow, self.sigs.shape[1]), np.uint32)])
            self.times = np.concatenate([self.times, np.zeros(grow)])
            self.sizes = np.concatenate([self.sizes, np.zeros(grow, np.float32)])
        self.sigs[n] = sig
        self.times[n] = t
        self.sizes[n] = size
        self.ids.append(article_id)
        self.count += 1
        return self.count - 1

    def expire(self, now: float) -> None:
        """Drop the leading slots older than the window (arrival order ~ time order)."""
        n = self.count - self.base
        old = int(np.searchsorted(self.times[:n] >= now - self.window, True))
        if old < 1024 and old < n // 2:
            return
        keep = n - old
        self.sigs[:keep] = self.sigs[old:n]
        self.times[:keep] = self.times[old:n]
        self.sizes[:keep] = self.sizes[old:n]
        self.ids = self.ids[old:]
        remap = np.full(self.count, -1, np.int32)
        remap[self.base + old : self.count] = np.arange(self.base + old, self.count, dtype=np.int32)
        self.base += old
        self.bands.merge(remap)

    def add(self, article_id: str, text: str, t: float) -> Match:
        """The article's match among the live ones, then the article itself is stored."""
        self.expire(t)
        sig, size = self.hasher.signature(text)
        keys = self.hasher.band_keys(sig)
        match = self.match(sig, size, keys, t)
        slot = self._append(sig, size, t, article_id)
        self.bands.add(keys, slot)
        return match

    def match(self, sig: U32, size: int, keys: U64, t: float) -> Match:
        slots = np.unique(self.bands.lookup(keys))
        rows = slots[slots >= self.base] - self.base
        if len(rows) == 0:
            return Match(None, 0.0)
        rows = rows[self.times[rows] >= t - self.window]
        if len(rows) == 0:
            return Match(None, 0.0)
        jaccard = (self.sigs[rows] == sig).mean(axis=1)
        other = self.sizes[rows].astype(np.float64)
        shared = jaccard * (size + other) / (1.0 + jaccard)
        sims = np.minimum(shared / np.maximum(np.minimum(other, size), 1.0), 1.0)
        best = float(sims.max())
        hits = rows[sims >= self.threshold]
        if len(hits) == 0:
            return Match(None, best)
        first = hits[np.argmin(self.times[hits])]  # earliest near-copy (ties: first stored)
        return Match(self.ids[int(first)], float(sims[rows == first][0]))

    def nbytes(self) -> int:
        n = self.count - self.base
        return (
            int(self.sigs[:n].nbytes + self.times[:n].nbytes)
            + self.bands.nbytes()
            + sum(49 + len(i) for i in self.ids)
        )

    def state(self) -> dict[str, np.ndarray]:
        n = self.count - self.base
        bands = self.bands.state()
        return {
            "dup_meta": np.asarray([self.base, self.count], np.int64),
            "dup_sigs": self.sigs[:n].copy(),
            "dup_times": self.times[:n].copy(),
            "dup_sizes": self.sizes[:n].copy(),
            "dup_ids": np.asarray(self.ids, dtype=np.str_),
            "dup_band_keys": bands["keys"],
            "dup_band_vals": bands["vals"],
        }

    @classmethod
    def from_state(cls, config: Config, state: dict[str, np.ndarray]) -> DuplicateIndex:
        index = cls(config)
        index.base, index.count = (int(x) for x in state["dup_meta"])
        index.sigs = np.asarray(state["dup_sigs"], np.uint32).copy()
        index.times = np.asarray(state["dup_times"], np.float64).copy()
        index.sizes = np.asarray(state["dup_sizes"], np.float32).copy()
        index.ids = [str(x) for x in state["dup_ids"]]
        index.bands = KeyIndex.from_state(
            {"keys": state["dup_band_keys"], "vals": state["dup_band_vals"]}
        )
        return index
