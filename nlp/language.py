"""Language identification with py3langid (no spaCy; about 1 ms per article).

py3langid's naive Bayes model over byte n-grams ships inside its wheel. Only the columns
of the languages named in ``languages.toml`` are kept in memory. English is the default:
a text with fewer than ``min_words`` words, or whose best language other than English has
a probability under ``min_probability``, is English; one whose best language is outside
``languages`` is undetermined ("und"). The stop-word profiles used before took short
English texts for Dutch or undetermined ("Barack Obama met Vladimir Putin in Geneva" was
Dutch: "met" and "in" are Dutch stop words); see bench/language.py.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pycountry

from nlp.data import load_toml

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_CODE = re.compile(r"[a-z]{2,3}")  # used with fullmatch: "$" would accept "fr\n"


@dataclass(frozen=True)
class LanguageSettings:
    languages: tuple[str, ...]
    others: tuple[str, ...]
    default: str
    undetermined: str
    min_words: int
    min_probability: float
    max_chars: int


def load_settings(name: str = "languages.toml") -> LanguageSettings:
    """The languages and thresholds from the data file."""
    return _load_settings(name)


@lru_cache(maxsize=8)
def _load_settings(name: str) -> LanguageSettings:
    data = load_toml(name)
    settings = data["settings"]
    return LanguageSettings(
        languages=tuple(settings["languages"]),
        others=tuple(settings.get("others", ())),
        default=str(settings["default"]),
        undetermined=str(settings["undetermined"]),
        min_words=int(settings["min_words"]),
        min_probability=float(settings["min_probability"]),
        max_chars=int(settings["max_chars"]),
    )


def load_identifier(name: str = "languages.toml") -> Any:
    """py3langid's identifier with probabilities, its model cut to the configured
    languages (the full model's 140 columns are not kept: about 12 MB less); loaded once
    per process and data file."""
    return _load_identifier(name)


@lru_cache(maxsize=2)  # one key per file: load_identifier() and ("languages.toml") agree
def _load_identifier(name: str) -> Any:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

    settings = load_settings(name)
    wanted = {*settings.languages, *settings.others}
    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    missing = wanted - set(classes)
    if missing:
        raise ValueError(f"{name}: py3langid has no model for {sorted(missing)}")
    keep = [i for i, code in enumerate(classes) if code in wanted]
    identifier = LanguageIdentifier(
        np.ascontiguousarray(ptc[:, keep]),
        np.ascontiguousarray(pc[keep]),
        [classes[i] for i in keep],
        nextmove,
        array("l", output),
        norm_probs=True,
        tk_row=row,
    )
    # Its per-state lists of Python ints, as arrays: the same lookups, 6 MB less.
    identifier._rowbase = array("l", identifier._rowbase)
    return identifier


def language_probabilities(text: str, name: str = "languages.toml") -> dict[str, float]:
    """Each model language's probability for the start of ``text`` (they sum to 1)."""
    settings = load_settings(name)
    ranked = load_identifier(name).rank(text[: settings.max_chars])
    return {code: float(p) for code, p in ranked}


def detect_language(
    text: str, name: str = "languages.toml", *, min_probability: float | None = None
) -> str:
    """ISO 639-1 code of the text's language, the default (English) for very short or
    unclear texts, or "und" for a language outside the configured ones.
    ``min_probability`` overrides the data file's (bench/language.py tries others)."""
    settings = load_settings(name)
    head = text[: settings.max_chars]
    if len(_WORD.findall(head)) < settings.min_words:
        return settings.default
    best, probability = load_identifier(name).classify(head)
    if min_probability is None:
        min_probability = settings.min_probability
    if best == settings.default or probability < min_probability:
        return settings.default
    return str(best) if best in settings.languages else settings.undetermined


def normalise_language(code: str) -> str:
    """A publisher's language tag as a lower-case ISO 639 code: "en-GB" → "en", "fra" → "fr".

    Codes that cannot be read are returned as "und".
    """
    primary = code.strip().replace("_", "-").split("-")[0].casefold()
    if not _CODE.fullmatch(primary):
        return "und"
    if len(primary) == 3:
        found = pycountry.languages.get(alpha_3=primary)
        if found is None:
            found = pycountry.languages.get(bibliographic=primary)
        alpha_2 = getattr(found, "alpha_2", None) if found is not None else None
        return alpha_2 if isinstance(alpha_2, str) else primary
    return primary
