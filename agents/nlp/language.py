"""Language identification by stopword shares (no spaCy; microseconds per article)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pycountry

from agents.nlp.data import load_toml

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class LanguageProfiles:
    stopwords: dict[str, frozenset[str]]
    min_words: int
    default: str
    undetermined: str
    min_share: float
    min_ratio: float
    max_chars: int


@lru_cache(maxsize=8)
def load_profiles(name: str = "languages.toml") -> LanguageProfiles:
    """Stopword lists and thresholds from the data file."""
    data = load_toml(name)
    settings = data["settings"]
    return LanguageProfiles(
        stopwords={
            code: frozenset(w.casefold() for w in spec["stopwords"])
            for code, spec in data["language"].items()
        },
        min_words=int(settings["min_words"]),
        default=str(settings["default"]),
        undetermined=str(settings["undetermined"]),
        min_share=float(settings["min_share"]),
        min_ratio=float(settings["min_ratio"]),
        max_chars=int(settings["max_chars"]),
    )


def language_scores(text: str, profiles: LanguageProfiles | None = None) -> dict[str, float]:
    """Share of word tokens that are stopwords of each language (0.0 for no words)."""
    profiles = profiles or load_profiles()
    words = [w.casefold() for w in _WORD.findall(text[: profiles.max_chars])]
    if not words:
        return dict.fromkeys(profiles.stopwords, 0.0)
    return {
        code: sum(w in stops for w in words) / len(words)
        for code, stops in profiles.stopwords.items()
    }


def detect_language(text: str, profiles: LanguageProfiles | None = None) -> str:
    """ISO 639-1 code of the text's language, the default for very short texts, or "und"."""
    profiles = profiles or load_profiles()
    if len(_WORD.findall(text[: profiles.max_chars])) < profiles.min_words:
        return profiles.default
    ranked = sorted(language_scores(text, profiles).items(), key=lambda kv: (-kv[1], kv[0]))
    (best, best_share), (_, second_share) = ranked[0], ranked[1]
    if best_share >= profiles.min_share and best_share >= profiles.min_ratio * second_share:
        return best
    return profiles.undetermined


def normalise_language(code: str) -> str:
    """A publisher's language tag as a lower-case ISO 639 code: "en-GB" → "en", "fra" → "fr".

    Codes that cannot be read are returned as "und".
    """
    primary = code.strip().replace("_", "-").split("-")[0].casefold()
    if not _CODE.match(primary):
        return "und"
    if len(primary) == 3:
        found = pycountry.languages.get(alpha_3=primary)
        if found is None:
            found = pycountry.languages.get(bibliographic=primary)
        alpha_2 = getattr(found, "alpha_2", None) if found is not None else None
        return alpha_2 if isinstance(alpha_2, str) else primary
    return primary
