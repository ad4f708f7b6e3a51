"""Training scripts for the committed models (run by ``make train``)."""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlp.linear import LinearModel


def read_config(path: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """A training config (JSON), with ``key=JSON`` overrides from ``--set`` applied; a
    dotted key (``dense.hidden=128``) sets a key of a nested object, which must exist. A
    value that is not JSON is taken as a string where the setting is one
    (``transfer=.cache/x.jsonl``), else refused."""
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for item in overrides:
        key, value = item.split("=", 1)
        *parents, last = key.split(".")
        node = config
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise SystemExit(f"--set {key}: {path.name} has no object {part!r}")
            node = node[part]
        try:
            node[last] = json.loads(value)
        except json.JSONDecodeError:
            if not isinstance(node.get(last), str):
                raise SystemExit(f"--set {item}: not a JSON value") from None
            node[last] = value
    return config


ROOT = Path(__file__).resolve().parents[1]
#: The shared evaluation data, beside the checkout.
DATA = ROOT.parent / "shared" / "data"


def model_parser(
    doc: str | None, model: str, config: Path, data: str = ""
) -> argparse.ArgumentParser:
    """The options every model trainer takes: ``--data`` (default ``DATA/<data>``),
    ``--out`` (default ``nlp/models/<model>``; ``-``: do not write), ``--config`` and
    ``--set key=JSON``."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA / data)
    parser.add_argument("--out", type=Path, default=ROOT / "nlp" / "models" / model)
    parser.add_argument("--config", type=Path, default=config)
    add_set_option(parser)
    return parser


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """``--set key=JSON ...`` (for :func:`read_config`); repeated options all count."""
    parser.add_argument(
        "--set", nargs="*", action="extend", default=[], help="override: key=value (JSON)"
    )


def save_model(model: LinearModel, out: Path) -> None:
    """Write ``model`` to ``out``, unless ``out`` is ``-``."""
    if out.name != "-":
        model.save(out)
        print(f"wrote {out}", file=sys.stderr)


def stratified_folds(strata: Sequence[Any], k: int, seed: int) -> list[int]:
    """A fold number (0..k-1) per example, dealt round-robin within each stratum after a
    seeded shuffle, strata taken in sorted order."""
    fold = [0] * len(strata)
    groups: dict[Any, list[int]] = {}
    for i, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(i)
    rng = random.Random(seed)
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        for j, i in enumerate(members):
            fold[i] = j % k
    return fold
