"""Story clustering as a stream: each article joins the most similar live story or starts
one. Similarity is the cosine between the article's TF-IDF vector (streaming document
frequencies over hashed terms) and the story's centroid (the sum of its articles' vectors,
its ``centroid_terms`` heaviest terms kept). The pipeline's output joins the text as terms of
their own (``features``: entities' canonical names, countries), so that two same-kind events
with different people and places score lower; and when the article names countries and
none of them is among the story's (up to four) countries, its score is multiplied by
``country_conflict``. Candidate stories come from a
:class:`KeyIndex` of the stories' top terms, so scoring never scans every story. Stories
not updated within the window expire. All state is numpy arrays plus one id string per
story, and :meth:`StoryClusterer.state` / :meth:`from_state` round-trip it, so a restarted
worker assigns the same story ids."""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from stories.config import Config
from stories.index import KeyIndex
from stories.text import content_terms

F32 = npt.NDArray[np.float32]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]


COUNTRY_SLOTS = 4


def country_codes(features: Iterable[str]) -> npt.NDArray[np.uint16]:
    """The ``country:XX`` features as distinct 16-bit codes (two ASCII letters)."""
    codes = {
        ord(f[8]) << 8 | ord(f[9])
        for f in features
        if f.startswith("country:") and len(f) == 10 and f[8:].isascii()
    }
    return np.asarray(sorted(codes), np.uint16)


class Assignment(NamedTuple):
    id: str
    size: int
    first_seen: float
    first_article: str
    similarity: float
    new: bool


def story_id(first_article: str) -> str:
    """A story's id: derived from its first article's id only (the same in every worker)."""
    return "story-" + hashlib.blake2b(first_article.encode("utf-8"), digest_size=8).hexdigest()


class StoryClusterer:
    def __init__(self, config: Config) -> None:
        c = config.clusters
        self.config = config
        self.k = c.centroid_terms
        self.mask = np.uint32((1 << c.hash_bits) - 1)
        self.df = np.zeros(1 << c.hash_bits, np.uint32)
        self.docs = 0
        self.n = 0  # stories in use (live or expired, until compaction)
        cap = 1024
        self.countries = np.zeros((cap, COUNTRY_SLOTS), np.uint16)
        self.terms: U32 = np.zeros((cap, self.k), np.uint32)
        self.weights: F32 = np.zeros((cap, self.k), np.float32)
        self.first_seen = np.zeros(cap, np.float64)
        self.last_seen = np.zeros(cap, np.float64)
        self.size = np.zeros(cap, np.int32)
        self.first_article: list[str] = []
        self.keys = KeyIndex()

    # -- vectors -----------------------------------------------------------------------
    def vector(self, text: str, features: Iterable[str] = ()) -> tuple[U32, F32]:
        """Sorted distinct term hashes and their unit-length TF-IDF weights (document
        frequencies as of now, this article included); each feature is one more term."""
        tokens = content_terms(text, self.config.text.stopwords, self.config.text.min_length)
        tokens += [f"\x00{f.casefold()}" for f in dict.fromkeys(features)]
        counts = Counter(zlib.crc32(t.encode("utf-8")) for t in tokens)
        terms = np.asarray(sorted(counts), np.uint32)
        if len(terms) == 0:
            return terms, np.zeros(0, np.float32)
        tf = 1.0 + np.log(np.asarray([counts[t] for t in terms.tolist()], np.float64))
        slots = terms & self.mask
        self.df[slots] += np.uint32(1)
        self.docs += 1
        idf = np.log((1.0 + self.docs) / (1.0 + self.df[slots])) + 1.0
        w = tf * idf
        return terms, (w / np.linalg.norm(w)).astype(np.float32)

    # -- scoring -----------------------------------------------------------------------
    def scores(
        self,
        rows: npt.NDArray[np.intp],
        terms: U32,
        w: F32,
        countries: npt.NDArray[np.uint16] | None = None,
    ) -> F32:
        """Cosine of the article's vector with each candidate story's centroid, times
        ``country_conflict`` where the article's countries and the story's are disjoint."""
        st, sw = self.terms[rows], self.weights[rows]
        if len(terms) == 0:
            return np.zeros(len(rows), np.float32)
        idx = np.clip(np.searchsorted(terms, st), 0, len(terms) - 1)
        hit = (terms[idx] == st) & (sw > 0)
        dot = np.where(hit, sw * w[idx], 0.0).sum(axis=1)
        norm = np.linalg.norm(sw, axis=1)
        cos = np.where(norm > 0, dot / np.maximum(norm, 1e-9), 0.0)
        if countries is not None and len(countries):
            sc = self.countries[rows]
            conflict = (sc > 0).any(axis=1) & ~np.isin(sc, countries).any(axis=1)
            cos = np.where(conflict, cos * self.config.clusters.country_conflict, cos)
        return cos.astype(np.float32)

    def candidates(self, keys: U64, now: float) -> npt.NDArray[np.intp]:
        slots = self.keys.lookup(keys)
        if len(slots) == 0:
            return np.zeros(0, np.intp)
        uniq, counts = np.unique(slots, return_counts=True)
        live = self.last_seen[uniq] >= now - self.config.clusters.window_s
        uniq, counts = uniq[live], counts[live]
        top = np.argsort(-counts, kind="stable")[: self.config.clusters.max_candidates]
        return uniq[top].astype(np.intp)

    # -- the stream ----------------------------------------------------------------------
    def add(
        self, article_id: str, text: str, now: float, features: Iterable[str] = ()
    ) -> Assignment:
        """Assign the article to a story (updating it) or start a new one. ``features``:
        :func:`stories.features.story_features` of the enriched record."""
        self.expire(now)
        features = list(features)
        countries = country_codes(features)
        terms, w = self.vector(text, features)
        top = np.argsort(-w, kind="stable")[: self.config.clusters.lookup_terms]
        keys: U64 = terms[top].astype(np.uint64)
        rows = self.candidates(keys, now)
        best, sim = -1, 0.0
        if len(rows):
            s = self.scores(rows, terms, w, countries)
            i = int(np.argmax(s))
            if float(s[i]) >= self.config.clusters.threshold:
                best, sim = int(rows[i]), float(s[i])
        new = best < 0
        if new:
            best = self._new_story(article_id, now)
        self._update(best, terms, w, countries, now)
        self.keys.add(keys, best)
        return Assignment(
            story_id(self.first_article[best]),
            int(self.size[best]),
            float(self.first_seen[best]),
            self.first_article[best],
            sim,
            new,
        )

    def _new_story(self, article_id: str, now: float) -> int:
        if self.n == len(self.size):
            self._grow()
        row = self.n
        self.n += 1
        self.terms[row] = 0
        self.weights[row] = 0
        self.countries[row] = 0
        self.first_seen[row] = now
        self.size[row] = 0
        self.first_article.append(article_id)
        return row

    def _update(
        self, row: int, terms: U32, w: F32, countries: npt.NDArray[np.uint16], now: float
    ) -> None:
        merged: dict[int, float] = {}
        for t, x in zip(self.terms[row].tolist(), self.weights[row].tolist(), strict=True):
            if x > 0:
                merged[t] = x
        for t, x in zip(terms.tolist(), w.tolist(), strict=True):
            merged[t] = merged.get(t, 0.0) + x
        kept = sorted(merged.items(), key=lambda kv: -kv[1])[: self.k]
        kept.sort()
        self.terms[row] = 0
        self.weights[row] = 0
        self.terms[row, : len(kept)] = [t for t, _ in kept]
        self.weights[row, : len(kept)] = [x for _, x in kept]
        have = [c for c in self.countries[row].tolist() if c]
        for c in countries.tolist():
            if c not in have and len(have) < COUNTRY_SLOTS:
                have.append(c)
        self.countries[row, : len(have)] = have
        self.size[row] += 1
        self.last_seen[row] = max(self.last_seen[row], now)

    def _grow(self) -> None:
        extra = max(1024, len(self.size))

        def more(a: np.ndarray) -> np.ndarray:
            return np.concatenate([a, np.zeros((extra, *a.shape[1:]), a.dtype)])

        self.terms, self.weights = more(self.terms), more(self.weights)
        self.countries = more(self.countries)
        self.first_seen, self.last_seen, self.size = (
            more(self.first_seen),
            more(self.last_seen),
            more(self.size),
        )

    def expire(self, now: float) -> None:
        """Compact away the stories not updated within the window, once they are many."""
        dead = self.last_seen[: self.n] < now - self.config.clusters.window_s
        ndead = int(dead.sum())
        if ndead < 1024 or ndead < self.n // 4:
            return
        keep = np.flatnonzero(~dead)
        remap = np.full(self.n, -1, np.int32)
        remap[keep] = np.arange(len(keep), dtype=np.int32)
        for name in ("terms", "weights", "countries", "first_seen", "last_seen", "size"):
            a = getattr(self, name)
            a[: len(keep)] = a[keep]
        self.first_article = [self.first_article[i] for i in keep.tolist()]
        self.n = len(keep)
        self.keys.merge(remap)

    def live_stories(self, now: float) -> int:
        return int((self.last_seen[: self.n] >= now - self.config.clusters.window_s).sum())

    def nbytes(self) -> int:
        arrays = (self.df, self.terms, self.weights, self.countries)
        per_story = self.first_seen.nbytes + self.last_seen.nbytes + self.size.nbytes
        return (
            sum(a.nbytes for a in arrays)
            + per_story
            + self.keys.nbytes()
            + sum(49 + len(a) for a in self.first_article)
        )

    # -- snapshot ------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        n = self.n
        keys = self.keys.state()
        return {
            "st_meta": np.asarray([self.docs, n], np.int64),
            "st_df": self.df,
            "st_terms": self.terms[:n],
            "st_weights": self.weights[:n],
            "st_countries": self.countries[:n],
            "st_first_seen": self.first_seen[:n],
            "st_last_seen": self.last_seen[:n],
            "st_size": self.size[:n],
            "st_first_article": np.asarray(self.first_article, dtype=np.str_),
            "st_keys": keys["keys"],
            "st_vals": keys["vals"],
        }

    @classmethod
    def from_state(cls, config: Config, state: dict[str, np.ndarray]) -> StoryClusterer:
        sc = cls(config)
        sc.docs, sc.n = (int(x) for x in state["st_meta"])
        sc.df = np.asarray(state["st_df"], np.uint32).copy()
        sc._grow_to(sc.n)
        for name in ("terms", "weights", "countries", "first_seen", "last_seen", "size"):
            getattr(sc, name)[: sc.n] = state[f"st_{name}"]
        sc.first_article = [str(x) for x in state["st_first_article"]]
        sc.keys = KeyIndex.from_state({"keys": state["st_keys"], "vals": state["st_vals"]})
        return sc

    def _grow_to(self, n: int) -> None:
        while len(self.size) < n:
            self._grow()
