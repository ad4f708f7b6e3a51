"""Training scripts for the committed models (run by ``make train``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def read_config(path: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """A training config (JSON), with ``key=JSON`` overrides from ``--set`` applied."""
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for item in overrides:
        key, value = item.split("=", 1)
        config[key] = json.loads(value)
    return config
