"""The ``Doc`` extensions the wirestream components read and write (registered on import
of a component module), as declared in :mod:`nlp.components`."""

from __future__ import annotations

from spacy.tokens import Doc

from nlp.components import extension_defaults


def register() -> None:
    """Register every extension of the components table once (idempotent)."""
    for name, default in extension_defaults().items():
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=default)
