"""Locating and reading the TOML data files (rules and taxonomies are data, not code)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"


def data_path(name: str) -> Path:
    """A data file: absolute paths are used as given, bare names live in ``nlp/data``."""
    path = Path(name)
    return path if path.is_absolute() else DATA_DIR / path


@lru_cache(maxsize=32)
def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def load_toml(name: str) -> dict[str, Any]:
    """The parsed file, read once per process (callers must not mutate it)."""
    return _load(data_path(name).resolve())
