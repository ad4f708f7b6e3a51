"""Training settings: a config file with ``--set key=JSON`` overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import model_parser, read_config


def test_overrides_reach_nested_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"epochs": 8, "dense": {"hidden": 64, "dropout": 0.2}}))
    config = read_config(path, ["epochs=5", "dense.hidden=128", 'class_weight={"arts": 3.0}'])
    assert config == {
        "epochs": 5,
        "dense": {"hidden": 128, "dropout": 0.2},
        "class_weight": {"arts": 3.0},
    }
    with pytest.raises(SystemExit, match="no object 'head'"):
        read_config(path, ["head.hidden=1"])


def test_every_set_option_counts(tmp_path: Path) -> None:
    """``--set a=1 --set b=2`` keeps both overrides (argparse would keep only the last)."""
    parser = model_parser("x", "sentiment", tmp_path / "config.json", data="newsmtsc")
    args = parser.parse_args(["--set", "epochs=5", "--set", "seed=1", "dropout=0.1"])
    assert args.set == ["epochs=5", "seed=1", "dropout=0.1"]


def test_a_string_setting_takes_a_bare_value(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"transfer": "a.jsonl", "epochs": 8}))
    config = read_config(path, ["transfer=.cache/b.jsonl", "epochs=5"])
    assert config == {"transfer": ".cache/b.jsonl", "epochs": 5}
    assert read_config(path, ['transfer="c.jsonl"'])["transfer"] == "c.jsonl"
    with pytest.raises(SystemExit, match="epochs=five: not a JSON value"):
        read_config(path, ["epochs=five"])
