"""A compact multimap from 64-bit keys to int32 slots: a sorted numpy run plus a small
pending dict merged into it every ``merge_every`` insertions (no Python object per entry
once merged)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
U64 = npt.NDArray[np.uint64]


class KeyIndex:
    def __init__(self, merge_every: int = 4096) -> None:
        self.keys: U64 = np.zeros(0, np.uint64)
        self.vals: I32 = np.zeros(0, np.int32)
        self.pending_keys: list[int] = []
        self.pending_vals: list[int] = []
        self.pending: dict[int, list[int]] = {}
        self.merge_every = merge_every

    def __len__(self) -> int:
        return len(self.keys) + len(self.pending_keys)

    def add(self, keys: U64, val: int) -> None:
        for k in keys.tolist():
            self.pending.setdefault(k, []).append(val)
            self.pending_keys.append(k)
            self.pending_vals.append(val)
        if len(self.pending_keys) >= self.merge_every:
            self.merge()

    def lookup(self, keys: U64) -> I32:
        """Every slot stored under any of ``keys`` (with repeats, one per shared key)."""
        found: list[I32] = []
        if len(self.keys):
            lo = np.searchsorted(self.keys, keys, "left")
            hi = np.searchsorted(self.keys, keys, "right")
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                if b > a:
                    found.append(self.vals[a:b])
        for k in keys.tolist():
            extra = self.pending.get(k)
            if extra:
                found.append(np.asarray(extra, np.int32))
        return np.concatenate(found) if found else np.zeros(0, np.int32)

    def merge(self, remap: I32 | None = None) -> None:
        """Fold the pending entries into the sorted run; with ``remap`` (old slot -> new
        slot, -1 = drop), rewrite every slot and drop the dead ones."""
        keys = np.concatenate([self.keys, np.asarray(self.pending_keys, np.uint64)])
        vals = np.concatenate([self.vals, np.asarray(self.pending_vals, np.int32)])
        if remap is not None:
            vals = remap[vals]
            keep = vals >= 0
            keys, vals = keys[keep], vals[keep]
        order = np.argsort(keys, kind="stable")
        self.keys, self.vals = keys[order], vals[order].astype(np.int32)
        self.pending_keys, self.pending_vals, self.pending = [], [], {}

    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.vals.nbytes) + 100 * len(self.pending_keys)

    def state(self) -> dict[str, np.ndarray]:
        self.merge()
        return {"keys": self.keys, "vals": self.vals}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> KeyIndex:
        index = cls()
        index.keys = np.asarray(state["keys"], np.uint64)
        index.vals = np.asarray(state["vals"], np.int32)
        return index
