"""Words, shingles and stable 32-bit hashes of them (the same in every process)."""

from __future__ import annotations

import re
import zlib

import numpy as np
import numpy.typing as npt

WORD = re.compile(r"\w+", re.UNICODE)
U32 = npt.NDArray[np.uint32]


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return WORD.findall(text.lower())


def hash_words(tokens: list[str]) -> U32:
    """crc32 of each token (stable across processes, unlike ``hash``)."""
    return np.fromiter((zlib.crc32(t.encode("utf-8")) for t in tokens), np.uint32, len(tokens))


def shingle_hashes(tokens: list[str], size: int) -> U32:
    """Distinct hashes of every run of ``size`` consecutive tokens (of the whole text when
    it is shorter)."""
    h = hash_words(tokens).astype(np.uint64)
    if len(h) == 0:
        return np.zeros(0, np.uint32)
    if len(h) < size:
        size = len(h)
    acc = np.zeros(len(h) - size + 1, np.uint64)
    for k in range(size):
        acc = acc * np.uint64(1_000_003) + h[k : len(h) - size + 1 + k]
    return np.unique((acc ^ (acc >> np.uint64(29))).astype(np.uint32))


def content_terms(text: str, stopwords: frozenset[str], min_length: int) -> list[str]:
    """Tokens that carry content: not stop words, not shorter than ``min_length``, not
    pure numbers of one digit."""
    return [
        t for t in words(text) if len(t) >= min_length and t not in stopwords and not t.isdigit()
    ]
