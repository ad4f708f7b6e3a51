"""Caps on the NLP's work per article (``nlp/data/limits.toml``), and the record of
which of them applied.

Every stage of the pipeline costs at most a constant per token once these hold: the
tokenizer reads at most ``max_tokens`` tokens and splits runs of more than
``max_word_chars`` non-space characters; sentences have at most ``max_sentence_tokens``
tokens; entity spans at most ``max_entity_tokens``; and the per-mention and per-event work
is capped. A component that applies a cap calls :func:`note` with the cap's name; the
names end up, in :data:`LIMIT_NAMES` order, in the analysis (``limits``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import lru_cache

from spacy.tokens import Doc

from nlp.data import load_toml
from nlp.extensions import register

register()


@dataclass(frozen=True)
class Limits:
    """The caps (see ``limits.toml`` for what each one bounds)."""

    max_tokens: int = 4000
    max_word_chars: int = 100
    max_sentence_tokens: int = 200
    max_entity_tokens: int = 25
    max_entities: int = 500
    max_sentiment_mentions_per_entity: int = 50
    max_sentiment_mentions: int = 200
    max_event_sentences: int = 100

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"limits: {f.name} must be at least 1")


#: Every name a record's ``limits`` may hold, in the order they are listed: the text cut
#: at ``WIRESTREAM_MAX_BODY_CHARS`` ("max_chars"), then the caps of :class:`Limits`.
LIMIT_NAMES: tuple[str, ...] = ("max_chars", *(f.name for f in fields(Limits)))


@lru_cache(maxsize=8)
def load_limits(name: str = "limits.toml") -> Limits:
    """The caps in the data file (``[limits]``); unknown keys are an error."""
    data = load_toml(name).get("limits", {})
    known = {f.name for f in fields(Limits)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{name}: unknown limits {unknown}")
    return Limits(**{key: int(value) for key, value in data.items()})


def note(doc: Doc, name: str) -> None:
    """Record on ``doc`` that the cap ``name`` applied to it."""
    if name not in LIMIT_NAMES:
        raise ValueError(f"unknown limit {name!r}")
    applied = doc._.ws_limits
    if applied is None:
        doc._.ws_limits = [name]
    elif name not in applied:
        applied.append(name)


def ordered(names: Iterable[str]) -> list[str]:
    """The names without repeats, in :data:`LIMIT_NAMES` order."""
    found = set(names)
    return [name for name in LIMIT_NAMES if name in found]
