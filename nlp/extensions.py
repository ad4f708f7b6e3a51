"""The ``Doc`` extensions the wirestream components read and write (registered on import)."""

from __future__ import annotations

from spacy.tokens import Doc

#: name → default value
EXTENSIONS: dict[str, object] = {
    "ws_headline_chars": 0,  # set by analyse() before the pipeline runs
    "ws_entities": None,
    "ws_mentions": None,
    "ws_sentiment": None,
    "ws_events": None,
    "ws_tags": None,
    "ws_topics": None,
    "ws_limits": None,  # names of the caps that applied (nlp.limits.note)
}


def register() -> None:
    """Register every extension once (idempotent)."""
    for name, default in EXTENSIONS.items():
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=default)
