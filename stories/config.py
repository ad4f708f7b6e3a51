"""The library's parameters, read from ``stories/data/stories.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "stories.toml"


@dataclass(frozen=True)
class DuplicatesConfig:
    shingle: int
    permutations: int
    bands: int
    threshold: float
    window_s: float


@dataclass(frozen=True)
class ClustersConfig:
    centroid_terms: int
    lookup_terms: int
    max_candidates: int
    threshold: float
    country_conflict: float
    window_s: float
    hash_bits: int


@dataclass(frozen=True)
class TrendingConfig:
    bucket_s: int
    recent_s: int
    baseline_s: int
    min_recent: int
    top: int


@dataclass(frozen=True)
class TextConfig:
    min_length: int
    stopwords: frozenset[str]


@dataclass(frozen=True)
class Config:
    duplicates: DuplicatesConfig
    clusters: ClustersConfig
    trending: TrendingConfig
    text: TextConfig

    def with_values(self, section: str, **values: Any) -> Config:
        """A copy with some values of one section replaced (for benchmarks and tests)."""
        return replace(self, **{section: replace(getattr(self, section), **values)})


def _section(cls: type, raw: dict[str, Any], name: str) -> Any:
    names = {f.name for f in fields(cls)}
    missing, extra = names - raw.keys(), raw.keys() - names
    if missing or extra:
        raise ValueError(
            f"stories.toml [{name}]: missing {sorted(missing)}, unknown {sorted(extra)}"
        )
    return cls(**raw)


def load_config(path: Path = DATA) -> Config:
    """The parameters in ``path``; a missing or unknown key is a ``ValueError``."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    text = dict(raw["text"])
    text["stopwords"] = frozenset(text["stopwords"])
    config = Config(
        duplicates=_section(DuplicatesConfig, raw["duplicates"], "duplicates"),
        clusters=_section(ClustersConfig, raw["clusters"], "clusters"),
        trending=_section(TrendingConfig, raw["trending"], "trending"),
        text=_section(TextConfig, text, "text"),
    )
    if config.duplicates.permutations % config.duplicates.bands:
        raise ValueError("stories.toml [duplicates]: permutations must be a multiple of bands")
    return config
